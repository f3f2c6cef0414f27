/* Written by make_jwt_vectors.py (python3-jwt 2.6.0): test-only keys and tokens; the
 * tokens' claims: {"iss": "https://issuer.test", "sub": "alice", "aud": ["svc-a", "svc-b"], "iat":
 * 1700000000, "nbf": 1700000000, "exp": 4102444800, "scope": "read write"} */
#ifndef URPC_TESTS_JWT_VECTORS_H
#define URPC_TESTS_JWT_VECTORS_H

#define VEC_IAT 1700000000
#define VEC_EXP 4102444800LL
#define VEC_ISS "https://issuer.test"

static const char JWKS[] __attribute__((unused)) =
    "{\"keys\": [{\"kty\": \"RSA\", \"key_ops\": [\"verify\"], \"n\": "
    "\"1YB7zg2ow_fYz0hzZCLHjwRjZjpJKw0wEE3Z"
    "qdD2sf5xsJEG_xDVidGy6eCdhIGg-RnW9z-cfEJIegaR_AvZ87pq2uvUrxG7WSu6AkOxm_3HNiXlu61EpRwPc2JlvP"
    "qKViwjki4O6rWEJVfvdebTW7I-S87IX5HY5Irk11hcfbQIxQoCOS7kR0qHrCJMOJPNkZkH9qnOqWPymYZoQmv2loe6"
    "z07mbLM20-5IviTRAsS2SaoUSAqh5ccjtyRFlZRHPs9-z8FmKfMMdHhX6i1MVCXmLQ3K7FRpptNDAK3w7nWwa5P-SF"
    "SJJVVlSSgVfh_CvrojP9lohfS2L2Ay1O805w\", \"e\": \"AQAB\", \"kid\": \"rsa1\", \"use\": "
    "\"sig\"}, {\"kty\": "
    "\"EC\", \"crv\": \"P-256\", \"x\": \"sWHRfpB_KkTWFj0yGKRCduZbmaCGrdthmgmMfW6yIcg\", \"y\": "
    "\"JN-5mDdHDF"
    "ZD361PO_39uEsVO3eTGX79KZVHsHvq-JU\", \"kid\": \"ec1\", \"alg\": \"ES256\"}, {\"kty\": \"EC\", "
    "\"crv\": \"P"
    "-384\", \"x\": \"0hKaZ89Ap2BHcmbTuIduJRpJPr9yIwPcGQrVnkKWEytCBLPhDzs1RVV6YZIo1XGH\", \"y\": "
    "\"4EfT"
    "SBJDAh9-GcoCGd6YkMfhUDSzJkVNVcI3wWc225O87WKlDAU3JIwH-mkIYSJh\", \"kid\": \"ec384\"}, {\"x\": "
    "\"EIE"
    "DnUXiU65YNsbp3j5vKUgepSqzhVkATJbBnjGzK3M\", \"kty\": \"OKP\", \"crv\": \"Ed25519\", \"kid\": "
    "\"ed1\"}, "
    "{\"kty\": \"RSA\", \"key_ops\": [\"verify\"], \"n\": "
    "\"wAM4KACzqB83mA__1Kmg_U5ULyoJ_7lU3zD-plKndxcrwx"
    "PcOg0dN7jghSTtcNEiU3wmpRO1G40w85FOXIzUDWm2g6kbo0sLDjKJyiYevZl03hmAu5BLprdhaHvMA4L0F0AU8-5R"
    "7RyRkGAqumNKmBEDIBu40E6C2_XyJiSTYVyj4J0cSdqgqqRU7G_P5Hx7fPUdH9BxxaOYZeogyS28tl4qt1xT7r3Wo9"
    "trOuPc8AFJCixSj0gsg_-PMh5_GiOEvLdd-TgRIQD4WIsoIbSW40MawWSun6WO8HpBjZtAXhn64lN8cXX5giuqOw3i"
    "CnRxS4J8oLU-iZiyhJ9HIUW09Q\", \"e\": \"AQAB\", \"kid\": \"enc1\", \"use\": \"enc\"}, "
    "{\"kty\": \"oct\", \"ki"
    "d\": \"hmac\", \"k\": \"c2VjcmV0\"}, {\"kty\": \"EC\", \"crv\": \"secp256k1\", \"x\": "
    "\"oHvWd_l9upoOoI1B9m1j"
    "GZJpGYOz4-VTNgddeCX89TI\", \"y\": \"YZM0ZS22KV61C1xXEBdduc60WJ3FPJobwSAhM-bVuas\", \"kid\": "
    "\"k1\"}"
    "]}";
static const char JWKS_ROTATED[] __attribute__((unused)) =
    "{\"keys\": [{\"kty\": \"RSA\", \"key_ops\": [\"verify\"], \"n\": "
    "\"wAM4KACzqB83mA__1Kmg_U5ULyoJ_7lU3zD-"
    "plKndxcrwxPcOg0dN7jghSTtcNEiU3wmpRO1G40w85FOXIzUDWm2g6kbo0sLDjKJyiYevZl03hmAu5BLprdhaHvMA4"
    "L0F0AU8-5R7RyRkGAqumNKmBEDIBu40E6C2_XyJiSTYVyj4J0cSdqgqqRU7G_P5Hx7fPUdH9BxxaOYZeogyS28tl4q"
    "t1xT7r3Wo9trOuPc8AFJCixSj0gsg_-PMh5_GiOEvLdd-TgRIQD4WIsoIbSW40MawWSun6WO8HpBjZtAXhn64lN8cX"
    "X5giuqOw3iCnRxS4J8oLU-iZiyhJ9HIUW09Q\", \"e\": \"AQAB\", \"kid\": \"rsa2\"}, {\"kty\": "
    "\"EC\", \"crv\": \""
    "P-256\", \"x\": \"8O9bclNWF8JSprsooQMqL-Hf2TD6fDGGprLAPeLkJ1Y\", \"y\": "
    "\"Dan4_NHig6P5JrEjPUPwJ08u"
    "oj-5gt5VPE6gGO7vMgE\", \"kid\": \"ec2\"}]}";
static const char PEM_KEYS[] __attribute__((unused)) =
    "a comment line, ignored\n"
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA1YB7zg2ow/fYz0hzZCLH\n"
    "jwRjZjpJKw0wEE3ZqdD2sf5xsJEG/xDVidGy6eCdhIGg+RnW9z+cfEJIegaR/AvZ\n"
    "87pq2uvUrxG7WSu6AkOxm/3HNiXlu61EpRwPc2JlvPqKViwjki4O6rWEJVfvdebT\n"
    "W7I+S87IX5HY5Irk11hcfbQIxQoCOS7kR0qHrCJMOJPNkZkH9qnOqWPymYZoQmv2\n"
    "loe6z07mbLM20+5IviTRAsS2SaoUSAqh5ccjtyRFlZRHPs9+z8FmKfMMdHhX6i1M\n"
    "VCXmLQ3K7FRpptNDAK3w7nWwa5P+SFSJJVVlSSgVfh/CvrojP9lohfS2L2Ay1O80\n"
    "5wIDAQAB\n"
    "-----END PUBLIC KEY-----\n"
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEsWHRfpB/KkTWFj0yGKRCduZbmaCG\n"
    "rdthmgmMfW6yIcgk37mYN0cMVkPfrU87/f24SxU7d5MZfv0plUewe+r4lQ==\n"
    "-----END PUBLIC KEY-----\n"
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAEIEDnUXiU65YNsbp3j5vKUgepSqzhVkATJbBnjGzK3M=\n"
    "-----END PUBLIC KEY-----\n";
static const char JWK_RSA_SMALL[] __attribute__((unused)) =
    "{\"kty\": \"RSA\", \"key_ops\": [\"verify\"], \"n\": "
    "\"2C4otXQcitw7sc8QatBak-nfzolQyTJUpwEHaN_N-e6fWN"
    "NLNgogLJ2GUdngOITTEWzigEfbfKf6UZX0JBIv_M0YDAEeSWHhJ9k1I7dR9kulZqgPScok_FIQ5HwhyvqW3wOQT_zs"
    "jlYd01v1gKpuqHiNLwP9kvBj3WI_45yhwL0\", \"e\": \"AQAB\", \"kid\": \"small\"}";
static const char JWK_RSA1_PRIVATE[] __attribute__((unused)) =
    "{\"kty\": \"RSA\", \"key_ops\": [\"sign\"], \"n\": "
    "\"1YB7zg2ow_fYz0hzZCLHjwRjZjpJKw0wEE3ZqdD2sf5xsJEG"
    "_xDVidGy6eCdhIGg-RnW9z-cfEJIegaR_AvZ87pq2uvUrxG7WSu6AkOxm_3HNiXlu61EpRwPc2JlvPqKViwjki4O6r"
    "WEJVfvdebTW7I-S87IX5HY5Irk11hcfbQIxQoCOS7kR0qHrCJMOJPNkZkH9qnOqWPymYZoQmv2loe6z07mbLM20-5I"
    "viTRAsS2SaoUSAqh5ccjtyRFlZRHPs9-z8FmKfMMdHhX6i1MVCXmLQ3K7FRpptNDAK3w7nWwa5P-SFSJJVVlSSgVfh"
    "_CvrojP9lohfS2L2Ay1O805w\", \"e\": \"AQAB\", \"d\": "
    "\"PwVTBiqwA1CYle8L6KX_g-7GrHlN-cBFzLo-IstE1puF"
    "0ZmtmALPFYRprHGZ7XAaJQ2Ej60eMuuZ2zMvSlfxOOlw-zgbqqWwSI0ItfxnY-VQNWKQYoqttZMH2IZWA6dsyCz1Pw"
    "QLcSqtXByN2Z6OCwYdL2FVcihp_mQlUo-JlazRdsPNEX-jSrD-lfn2Ti3urzhJys3HnkFIQ8Ga_TA_DO16ogAPit-e"
    "T7IubthqWmPgaT7lUinoE6zM0iI2UmVqC7jvG9S537BAD_90KseeMm1TcGpLQ2pobBHuueRuJSQa1mdXL608-nMW0I"
    "fojKb6DJaossefSfFIh9XFLeLF4Q\", \"p\": \"--C2ayWbakUnd_9SgjhXXFNGyzzSSBQKx2A3mcSM89k67PHMgapfj"
    "UKi3NUKYwn1tIkeCvIJ48-mqHmcFpzrdxvcnymwHWinFQzHc-Zk7-bJz3f-znVikNP8JpU6odpNL6g_RQtHgiPVEua"
    "jAY1yEvAJ9T9M7Is1or5C84HQejc\", \"q\": \"2P79AZnwSQAwF6scTQJ4Kp1j6remnAjFc2lYxlRUEfSfMBclE-dnl"
    "uQdrAanyTth_iaqQQjWAjsQGupVS4i_hAQnppAdkZYPxWEo-0anYjxtz1sxsDsbj46k1w12_L8Jp_5IioLZ9toeJyt"
    "rbjYAUewVW8Hly6nbN5SnuK3xAtE\", \"dp\": \"ZHmkayOKVp8VeoHISRfuiW7S27n8bDJKhnP0WguU6qUqI2DlYogz"
    "K6d8TjlRtmY_tG_KIzWgCldINQal5ENejpn3rSo1DdY0aGo7mhk7BJP8xx0n8PXUhs95U27N_8iUZ8Fm08UHFnvywG"
    "Jufe0Np05HuqQwrF9v2uao0HhlUIs\", \"dq\": \"ZdWknq_DmD7CUxk2Ot3Bzx312h09z1Q-dZ8mzkyc96A5ZLQ37lN"
    "WxfVgB29IJqP7pO44UDT5WiqlsDvws3YFisr4YK6Zcc1esV6bgPDzdKKvVfSSKQZUNNbYfSQQhySQP4qSOI6YA8TxC"
    "ajSzfIBzHBixaEFWsLn4fmdjIn05UE\", \"qi\": \"z4UGdFy9zkl2h7AEUPtvpxOFAuz_UN3z7D6IyzaDCQTD7P7hrW"
    "pP17nZGy3G4pmtAMpyKGOUVfPbymcJayK8BhDD2vXKQnJWVadEu1bPLsbuUIDrKR2-mZ4UhwmFaNLYDVMlGB2RPgsQ"
    "IhwZoKJBbAd3hbuwEuohhuVBvaS36Kg\"}";
static const char JWK_EC1_WRONG_ALG[] __attribute__((unused)) =
    "{\"kty\": \"EC\", \"crv\": \"P-256\", \"x\": \"sWHRfpB_KkTWFj0yGKRCduZbmaCGrdthmgmMfW6yIcg\", "
    "\"y\": \"JN"
    "-5mDdHDFZD361PO_39uEsVO3eTGX79KZVHsHvq-JU\", \"kid\": \"x\", \"alg\": \"RS256\"}";
static const char JWK_EC_OFF_CURVE[] __attribute__((unused)) =
    "{\"kty\": \"EC\", \"crv\": \"P-256\", \"x\": \"sWHRfpB_KkTWFj0yGKRCduZbmaCGrdthmgmMfW6yIcg\", "
    "\"y\": \"JN"
    "-5mDdHDFZD361PO_39uEsVO3eTGX79KZVHsHvq-JQ\", \"kid\": \"off\"}";
static const char TOK_RS256[] __attribute__((unused)) =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJodHRwczovL2lzc3Vlci50ZXN"
    "0Iiwic3ViIjoiYWxpY2UiLCJhdWQiOlsic3ZjLWEiLCJzdmMtYiJdLCJpYXQiOjE3MDAwMDAwMDAsIm5iZiI6MTcwM"
    "DAwMDAwMCwiZXhwIjo0MTAyNDQ0ODAwLCJzY29wZSI6InJlYWQgd3JpdGUifQ.NFlpzKKK6FsvXzJWGjcSq8q8cL5I"
    "h4GfWmgOVvVyY_78Cy88sjUw0OpwbU-Q-bYghkjl_fZBPUF5DfnYeWbmOL5uHo7URGZK5FnQIfpskmPqNBkDZpvdmL"
    "npyGacuZ_i6VBh_w992vCorQSk6pp4WZ512kr7zSA2Pa5kkpVkIzCzN6fj1l7UMzht_1NxiYGMXJzKnEKKvcGnwER2"
    "yFEt3nX6OW2olmo5tcSjccW6NXZtMvuCe4lLVIF_pnXdKAtsTbHrscqcNzuZ8FIFjt2Z483-8GISo53EiM6uVMnB0v"
    "IqXcuX4vo4wy0-MGxhxiC7jfB3edDpUfeZ0HhtQ16LZw";
static const char TOK_RS384[] __attribute__((unused)) =
    "eyJhbGciOiJSUzM4NCIsImtpZCI6InJzYTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJodHRwczovL2lzc3Vlci50ZXN"
    "0Iiwic3ViIjoiYWxpY2UiLCJhdWQiOlsic3ZjLWEiLCJzdmMtYiJdLCJpYXQiOjE3MDAwMDAwMDAsIm5iZiI6MTcwM"
    "DAwMDAwMCwiZXhwIjo0MTAyNDQ0ODAwLCJzY29wZSI6InJlYWQgd3JpdGUifQ.xYllM5VCFsC-bBwO_K9H0UbC-1fC"
    "bpADKlvoV5VqNyYEUMUhIbsM4UZ1M7GzU1fGgkbxouWibPgflwfJIDwAV0qvYLQfzSmAKQ0z9m9A13DJusZdFzN8hH"
    "AhM_3c3Fzzk2sson0CsTp3E2egntqsYWbCJRfM7k70ghqRZrdc31dmRcDJJj-jJZByzMyNc9U0S6BDnpB7gThybVdl"
    "FO9YarnTc61cSijkV0dNU3k5oH-1U85GbVZuDfebk4Erqx2dJ40hJqSBfC1tmbT7aqxzbvRzaR7TOSXKaaHWvT-4uX"
    "5bSyW5MyqO9O9TdAupYs_SkDhwF1PDs49UMoNKISjrQg";
static const char TOK_RS512[] __attribute__((unused)) =
    "eyJhbGciOiJSUzUxMiIsImtpZCI6InJzYTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJodHRwczovL2lzc3Vlci50ZXN"
    "0Iiwic3ViIjoiYWxpY2UiLCJhdWQiOlsic3ZjLWEiLCJzdmMtYiJdLCJpYXQiOjE3MDAwMDAwMDAsIm5iZiI6MTcwM"
    "DAwMDAwMCwiZXhwIjo0MTAyNDQ0ODAwLCJzY29wZSI6InJlYWQgd3JpdGUifQ.qbZr6FGSSKclwsvWi-WsJ59qIsUR"
    "Pukb4dYHu96lQolykup3bqz9gpFaKKHDtF3equRaa7cnbUFFI9QeSWlA8ww2bfg8T4Qun4GQXzIRWlwCfxHGi5NyqH"
    "_c2TXGbzwPFCdWuqkdaTQL5uzXFfMN0rsv0EQwEbiiF8SSMcp1Ndb2XsybfttSDTuUE2JVFA8EVajcUTw8qLzUGZMh"
    "N2kw-uNv991jjbtyYDCtMxUYdYKvGEOkdO1KL349ieLpYwjVQFdkfwFyoYJG27ROJn-QwEo9uaAlopURuiPaXLonSy"
    "z1SIILfPYRTfAvGFbHZ9Z3-dMENbolEz3WYSqOwGbAgA";
static const char TOK_ES256[] __attribute__((unused)) =
    "eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjMSIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci50ZXN0I"
    "iwic3ViIjoiYWxpY2UiLCJhdWQiOlsic3ZjLWEiLCJzdmMtYiJdLCJpYXQiOjE3MDAwMDAwMDAsIm5iZiI6MTcwMDA"
    "wMDAwMCwiZXhwIjo0MTAyNDQ0ODAwLCJzY29wZSI6InJlYWQgd3JpdGUifQ.SddpwSFdbPjDpoxsB0_U-X7zKadi6f"
    "XDtLTdsQnm8Dw_m6V7SXiyBQ7Qy_ZbRRCXk7ZPoHjctbmZY31pEP1WiQ";
static const char TOK_ES384[] __attribute__((unused)) =
    "eyJhbGciOiJFUzM4NCIsImtpZCI6ImVjMzg0IiwidHlwIjoiSldUIn0.eyJpc3MiOiJodHRwczovL2lzc3Vlci50ZX"
    "N0Iiwic3ViIjoiYWxpY2UiLCJhdWQiOlsic3ZjLWEiLCJzdmMtYiJdLCJpYXQiOjE3MDAwMDAwMDAsIm5iZiI6MTcw"
    "MDAwMDAwMCwiZXhwIjo0MTAyNDQ0ODAwLCJzY29wZSI6InJlYWQgd3JpdGUifQ.ACgydINTZ6I30rbno9OLH2Xi30k"
    "F0DQI-JRryg8CfektdaAPKmFX9t3AYRcn-nWQb2G9GYmKeVCCd5kDRKlJQs2BHlba4XYfHeNmLZuc1dgbmGw7Ln5F8"
    "RdhmY6GMfO5";
static const char TOK_EDDSA[] __attribute__((unused)) =
    "eyJhbGciOiJFZERTQSIsImtpZCI6ImVkMSIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci50ZXN0I"
    "iwic3ViIjoiYWxpY2UiLCJhdWQiOlsic3ZjLWEiLCJzdmMtYiJdLCJpYXQiOjE3MDAwMDAwMDAsIm5iZiI6MTcwMDA"
    "wMDAwMCwiZXhwIjo0MTAyNDQ0ODAwLCJzY29wZSI6InJlYWQgd3JpdGUifQ.WYQe1GTcFAkZ2JZQVV39WpCgZMlIy2"
    "OfjHqtlP9rd8am1viLOGmwyYuohlycrPXzNP6VgvDQlfhFrefehpGqCQ";
static const char TOK_RS256_NOKID[] __attribute__((unused)) =
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci50ZXN0Iiwic3ViIjoiYWxpY"
    "2UiLCJhdWQiOlsic3ZjLWEiLCJzdmMtYiJdLCJpYXQiOjE3MDAwMDAwMDAsIm5iZiI6MTcwMDAwMDAwMCwiZXhwIjo"
    "0MTAyNDQ0ODAwLCJzY29wZSI6InJlYWQgd3JpdGUifQ.o3FDXX8eDUHqoLgtI9MURwoOgx_LGivAe_V9XxxLKgmGla"
    "EhaesDRyXcLhz_t6-NbAVv5SIAjaHwACdMYy12QGQS_RVxg6wIcCxUc8zszcz7fD_qmezB0J8POqbHKzJwmOMIU7w0"
    "Va8AHdwQsidc3StXqNwVJE5tVxCFtVpK0va-cErzh34QB0TTQ0R91CjBu4_jadCO9ZLxS84ZhF0Tao1tDBXZLptMv8"
    "4yt_RcF4Mufx5auwMHuQT1prg4WBcCP36ISIpLHm7QR2PsfCpH_sIBkT48vzIvRpnlu9RA9cJ1TrYZm3486otludsV"
    "nXtzdcgR3Jh2bVvk7y-L6CxEqw";
static const char TOK_ES256_NOKID[] __attribute__((unused)) =
    "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci50ZXN0Iiwic3ViIjoiYWxpY"
    "2UiLCJhdWQiOlsic3ZjLWEiLCJzdmMtYiJdLCJpYXQiOjE3MDAwMDAwMDAsIm5iZiI6MTcwMDAwMDAwMCwiZXhwIjo"
    "0MTAyNDQ0ODAwLCJzY29wZSI6InJlYWQgd3JpdGUifQ.Uk2aW7d2klx1WIYpW6kJE8lteZ3mePhTbaDVQ4sJgqKmXO"
    "M1aZ7HlirUppN5-7O42zyGFJq8sHoWMVCTZf9vhA";
static const char TOK_EDDSA_NOKID[] __attribute__((unused)) =
    "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci50ZXN0Iiwic3ViIjoiYWxpY"
    "2UiLCJhdWQiOlsic3ZjLWEiLCJzdmMtYiJdLCJpYXQiOjE3MDAwMDAwMDAsIm5iZiI6MTcwMDAwMDAwMCwiZXhwIjo"
    "0MTAyNDQ0ODAwLCJzY29wZSI6InJlYWQgd3JpdGUifQ.xP-2TYlDhl5Mz1kQrIfHJ3TbMt99mvOUUQ7YSHM4jxc7s7"
    "c6UJB4hFL7ypvjjyzelj5X4MSb84GCF8iYFknHCw";
static const char TOK_RS256_UNKNOWN_KID[] __attribute__((unused)) =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6IndobyIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci50ZXN0I"
    "iwic3ViIjoiYWxpY2UiLCJhdWQiOlsic3ZjLWEiLCJzdmMtYiJdLCJpYXQiOjE3MDAwMDAwMDAsIm5iZiI6MTcwMDA"
    "wMDAwMCwiZXhwIjo0MTAyNDQ0ODAwLCJzY29wZSI6InJlYWQgd3JpdGUifQ.NCzaKM6FYc7CPtHWRExIsryzkrhRkg"
    "R-FcZRWNZkhi-BIgkp7ycrfmOVL9ZQtVFgkVIRM1PEclEzJzl8jkoyoWD-nhbz9C7hT8bca5yQoWZTha31aAVpuaw-"
    "dkoiYdoyHQvKzB7B6GmDX0c62Pf9iGEJcKufeIPHf2kn0AkpNk89xCQX-j-mWOJ9fU2UvlADz8OLP-Pd5UA_nIzMA5"
    "NYHk3ZDWgdvx-7VxyBYP2GPy6L_dzG370pPuGVXzqTg_UgcgjVTdfuQoEYMMfAYotwW6KSd4-iwz37HKH7qUnzYaCB"
    "-o45rlD_xhBd3_Jh-XJShiOsiyehKsPk_6WU0l590A";
static const char TOK_RS256_OTHER_KEY[] __attribute__((unused)) =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJodHRwczovL2lzc3Vlci50ZXN"
    "0Iiwic3ViIjoiYWxpY2UiLCJhdWQiOlsic3ZjLWEiLCJzdmMtYiJdLCJpYXQiOjE3MDAwMDAwMDAsIm5iZiI6MTcwM"
    "DAwMDAwMCwiZXhwIjo0MTAyNDQ0ODAwLCJzY29wZSI6InJlYWQgd3JpdGUifQ.JdBzsqtPGPFEuu7hoMvC6GUlD83k"
    "LKsNtvOX-RjG3kPxT0Uz8LMrgV95f52ay3K5a81iDSqhb6l-z9njGB__uU2NXXgEU4ridsJa6vIqtsrUvg89PEzRQE"
    "AwCLjWJkyjFt-QMDz4dXUyBQmhRFR0Hudz2ioxvE87zj8WciUk0rgwKVHrKxTu-z8npUwgQv1R4VONuPouVgCAl8cO"
    "o8W7k-l1hmF_tHDN-ha4fpEvYQsvWx8M8u6A_lAHY_qOlCx8IBGbP6U-DvluLVI35MhMWJmx3VaSHH6O7h-mYqmoMP"
    "cPh3DngPy_8TKqqgoB_zCW3tiCpVajCWK_OFkghqG94A";
static const char TOK_RS256_ROTATED[] __attribute__((unused)) =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYTIiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJodHRwczovL2lzc3Vlci50ZXN"
    "0Iiwic3ViIjoiYWxpY2UiLCJhdWQiOlsic3ZjLWEiLCJzdmMtYiJdLCJpYXQiOjE3MDAwMDAwMDAsIm5iZiI6MTcwM"
    "DAwMDAwMCwiZXhwIjo0MTAyNDQ0ODAwLCJzY29wZSI6InJlYWQgd3JpdGUifQ.ZdJVMaIpMVQXbdgu-bqxcQAZji4U"
    "ruoGDhVZh5dzbutsuHuqOfz1AS5LRkAPgnr39sZAzCck7oqXxXTXnA_jebiPceOKEZV3GQtZIMhIOefkQ2VQCCZJfn"
    "APMDKXBBZJyxU7VrzoO6m5uNk1csPMA6auhM5AZoSHRIydlwvlvDFF4-0MAmD_FyrlreUN-V8u7UdkpPmZ8Uh7ICId"
    "GD2hWaq5js8-76z4VVrB778fBhGdjM4iKqHdCsmzJsExIc7Qef1oVklf8OLMcmIF2fNcFFwxdAnNrO8YP8pW9FY_rm"
    "u2GxaIoPWlZG3cnN01chHI0KJ-1U2jt-752YKuNY5XlQ";
static const char TOK_ES256_ROTATED[] __attribute__((unused)) =
    "eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjMiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci50ZXN0I"
    "iwic3ViIjoiYWxpY2UiLCJhdWQiOlsic3ZjLWEiLCJzdmMtYiJdLCJpYXQiOjE3MDAwMDAwMDAsIm5iZiI6MTcwMDA"
    "wMDAwMCwiZXhwIjo0MTAyNDQ0ODAwLCJzY29wZSI6InJlYWQgd3JpdGUifQ.AJIUmjwYx1pwOc4P_e-X5nQlkj9QrC"
    "q1unmrndAZkNCNMjs6mAA6DneZvG2GFwKX7PCkaXQ_VRtlwzehhUL3nA";
static const char TOK_ES256_KID_RSA[] __attribute__((unused)) =
    "eyJhbGciOiJFUzI1NiIsImtpZCI6InJzYTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJodHRwczovL2lzc3Vlci50ZXN"
    "0Iiwic3ViIjoiYWxpY2UiLCJhdWQiOlsic3ZjLWEiLCJzdmMtYiJdLCJpYXQiOjE3MDAwMDAwMDAsIm5iZiI6MTcwM"
    "DAwMDAwMCwiZXhwIjo0MTAyNDQ0ODAwLCJzY29wZSI6InJlYWQgd3JpdGUifQ.pHYypAci2o5Co-jlJkWYDFq0t3NU"
    "PhDcgaQ2NxeMWqU3c_PyG7-RgazzTm9sOcllB7bF2U4HeOSsqBnODVyeoA";
static const char TOK_ES256_KID_EC384[] __attribute__((unused)) =
    "eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjMzg0IiwidHlwIjoiSldUIn0.eyJpc3MiOiJodHRwczovL2lzc3Vlci50ZX"
    "N0Iiwic3ViIjoiYWxpY2UiLCJhdWQiOlsic3ZjLWEiLCJzdmMtYiJdLCJpYXQiOjE3MDAwMDAwMDAsIm5iZiI6MTcw"
    "MDAwMDAwMCwiZXhwIjo0MTAyNDQ0ODAwLCJzY29wZSI6InJlYWQgd3JpdGUifQ.hSM4YhOsoZ6IH_wfC5hGGMibukS"
    "30GSdgZvNWOhs3UoOAWdkK4SmPevbePtMQxYyaLvtlCRR2BSydpf-Acys0w";
static const char TOK_ES384_KID_EC1[] __attribute__((unused)) =
    "eyJhbGciOiJFUzM4NCIsImtpZCI6ImVjMSIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci50ZXN0I"
    "iwic3ViIjoiYWxpY2UiLCJhdWQiOlsic3ZjLWEiLCJzdmMtYiJdLCJpYXQiOjE3MDAwMDAwMDAsIm5iZiI6MTcwMDA"
    "wMDAwMCwiZXhwIjo0MTAyNDQ0ODAwLCJzY29wZSI6InJlYWQgd3JpdGUifQ.hf5ulgmCNbq_6ji_DIKWaKcUn0fqmn"
    "rIK8ZNbmjhDBr4051RcX7Ckoplcg7LPTRNzl5GiqeYpZCeCjxe8lhuV0cD8puCu7Qo5PN1LrSBD0e6jxpk7fVHsQSe"
    "OT78yMqd";
static const char TOK_HS256_PUBKEY[] __attribute__((unused)) =
    "eyJhbGciOiAiSFMyNTYiLCAidHlwIjogIkpXVCJ9.eyJpc3MiOiAiaHR0cHM6Ly9pc3N1ZXIudGVzdCIsICJzdWIiO"
    "iAiYWxpY2UiLCAiYXVkIjogWyJzdmMtYSIsICJzdmMtYiJdLCAiaWF0IjogMTcwMDAwMDAwMCwgIm5iZiI6IDE3MDA"
    "wMDAwMDAsICJleHAiOiA0MTAyNDQ0ODAwLCAic2NvcGUiOiAicmVhZCB3cml0ZSJ9.kXNfCus2eFPkDIxlc5Kn_mh_"
    "WzB_SOpY6TR-0hWMqbM";
static const char TOK_HS256_PUBKEY_KID[] __attribute__((unused)) =
    "eyJhbGciOiAiSFMyNTYiLCAia2lkIjogInJzYTEifQ.eyJpc3MiOiAiaHR0cHM6Ly9pc3N1ZXIudGVzdCIsICJzdWI"
    "iOiAiYWxpY2UiLCAiYXVkIjogWyJzdmMtYSIsICJzdmMtYiJdLCAiaWF0IjogMTcwMDAwMDAwMCwgIm5iZiI6IDE3M"
    "DAwMDAwMDAsICJleHAiOiA0MTAyNDQ0ODAwLCAic2NvcGUiOiAicmVhZCB3cml0ZSJ9.D9_0v5vfjjv8yKs7tzRqbk"
    "QLgVvWrcRN6ubCKqkOr0Y";
static const char TOK_NONE[] __attribute__((unused)) =
    "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpc3MiOiAiaHR0cHM6Ly9pc3N1ZXIudGVzdCIsICJzdWIiOiAiYW"
    "xpY2UiLCAiYXVkIjogWyJzdmMtYSIsICJzdmMtYiJdLCAiaWF0IjogMTcwMDAwMDAwMCwgIm5iZiI6IDE3MDAwMDAw"
    "MDAsICJleHAiOiA0MTAyNDQ0ODAwLCAic2NvcGUiOiAicmVhZCB3cml0ZSJ9.";
static const char TOK_NONE_SIG[] __attribute__((unused)) =
    "eyJhbGciOiJub25lIn0.eyJpc3MiOiAiaHR0cHM6Ly9pc3N1ZXIudGVzdCIsICJzdWIiOiAiYWxpY2UiLCAiYXVkIj"
    "ogWyJzdmMtYSIsICJzdmMtYiJdLCAiaWF0IjogMTcwMDAwMDAwMCwgIm5iZiI6IDE3MDAwMDAwMDAsICJleHAiOiA0"
    "MTAyNDQ0ODAwLCAic2NvcGUiOiAicmVhZCB3cml0ZSJ9.c2ln";
static const char TOK_NO_EXP[] __attribute__((unused)) =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiAiaHR0cHM6Ly9pc3N1ZXIudGV"
    "zdCIsICJzdWIiOiAiYWxpY2UiLCAiYXVkIjogWyJzdmMtYSIsICJzdmMtYiJdLCAiaWF0IjogMTcwMDAwMDAwMCwgI"
    "m5iZiI6IDE3MDAwMDAwMDAsICJzY29wZSI6ICJyZWFkIHdyaXRlIn0.D2Pd9K-q0TlxZkutNy1hjH10iYsA-4MjOSh"
    "p9gUMLsnfKRDDESPNcaYbuNsT-7t-oQeCb_q8Lto8I6EyWWsxhpzE7Hllnki7XpBKPdJ70iZqGiRHsPVF65by-L3t0"
    "mgXVwPN7o-n-SKG8KrP5Sw-QqIkS8Hzs_xOOpq-yXK-OaMoTywH-UoV9XrNMdT-AK6v-XRizHIIzTnz8HoWhof1shC"
    "88JUTziYPKK6d6AYO2Q3j5oNp7DXEteTZYblx4_mEPSBggq1x2SprDhVhOg8SPDHB4L65C7yK1RUITskOcgRsPlCtR"
    "18r26LHl1Wcp86GymclGJc1gSYenT3pKJmlrg";
static const char TOK_EXP_STRING[] __attribute__((unused)) =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiAiaHR0cHM6Ly9pc3N1ZXIudGV"
    "zdCIsICJzdWIiOiAiYWxpY2UiLCAiYXVkIjogWyJzdmMtYSIsICJzdmMtYiJdLCAiaWF0IjogMTcwMDAwMDAwMCwgI"
    "m5iZiI6IDE3MDAwMDAwMDAsICJleHAiOiAiNDEwMjQ0NDgwMCIsICJzY29wZSI6ICJyZWFkIHdyaXRlIn0.FIc_GVp"
    "8KbbDBRhS1tSa2RJ9fVyZopCdLX-6atOYSD19UTCOQyGty3Kovf2Hlqt2d2uHOkOxCnNnLs9u_lAviYhefNduGKsNY"
    "ESgPjKHiSBsLP2vTUaI9fD0fcgcXFyCN0U7-9SNa1pj6Y_osQHdIW4f_s8--WDjgXagXma8iFnhkc7UbcyRCjN4PvV"
    "x_BHt8LkP-6OzvPNiWsbPTFwE86nEcGhdk369GBZkAxhLTyqz25CSiQuBm-4g7DVug3eqNZ-uq_oLxR09hsh7z2Ukh"
    "YLUSSl60gd2omBQL1pBrGaDB8aaq9uFAUUg4lYGz1zcELPNppM1PfO12-nqt0TbeA";
static const char TOK_EXP_FRACTION[] __attribute__((unused)) =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiAiaHR0cHM6Ly9pc3N1ZXIudGV"
    "zdCIsICJzdWIiOiAiYWxpY2UiLCAiYXVkIjogWyJzdmMtYSIsICJzdmMtYiJdLCAiaWF0IjogMTcwMDAwMDAwMCwgI"
    "m5iZiI6IDE3MDAwMDAwMDAsICJleHAiOiAxNzUwMDAwMDAwLjUsICJzY29wZSI6ICJyZWFkIHdyaXRlIn0.GlQYvee"
    "2nEF6-xTEqoSjA62y1rH0_yLORAohz_bldcoOkS8RwtejyUZllTvcAcr26MaazZvOlZJ1VeF9xRLutedlU55ZxqXH1"
    "s34f6Ul9rqczdXDqp_GDBf7f5vPyR3XwBqW5Ud9Jwq3uI3mm0Zo0_nyokltRN2XjwcUi-s1DPVNlh3AtNjftHlhKkp"
    "ASpSX8MSLYlS9b0e6CJTUWmRFLIvpuqA95mk7_SPVTlgHB8EpwG9qwwjwVdhW5f6Q5EKan189IBCHr3tzzVz-0aqFm"
    "vsZyg6EokGImInnEcSBjKaqaQBkTK-60OWoHYa7yiD5C7UhMinoMRo-r43ws8YhTA";
static const char TOK_AUD_STRING[] __attribute__((unused)) =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiAiaHR0cHM6Ly9pc3N1ZXIudGV"
    "zdCIsICJzdWIiOiAiYWxpY2UiLCAiYXVkIjogInN2Yy1hIiwgImlhdCI6IDE3MDAwMDAwMDAsICJuYmYiOiAxNzAwM"
    "DAwMDAwLCAiZXhwIjogNDEwMjQ0NDgwMCwgInNjb3BlIjogInJlYWQgd3JpdGUifQ.VlMZ8CgpQgYKK-h5b0ZcwaRq"
    "PL7U-l52ip4ytSRfTxA9pU5JsTnfyeTVwPMkeMHo4YRKhXcuNPp_rXk8pxL_og_AoXW_Ch015VlnOBHkn_zNzSEbwz"
    "xmqOgx--To5rdmhkmcUGFZmu1ck7inkP9Q9-d_FEJIWgG9NlVKkUOq0tTNDUJSHL8WtEZmzWgc9QhtYvi3QHR8iQ5I"
    "9IZuZlRwiLJhj4b-SDfmLhKRFYzl0qx4uRjg80gRRZHU0FgBvwpduXvW0oBAvwJoQZv4vAxFsSm-oIDWmiolNqWZ7Q"
    "tJvmQfOOhgQqrN77CTKwOW24RI-jUk7KWCBMoXKzKn3C0NJQ";
static const char TOK_AUD_NUMBER[] __attribute__((unused)) =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiAiaHR0cHM6Ly9pc3N1ZXIudGV"
    "zdCIsICJzdWIiOiAiYWxpY2UiLCAiYXVkIjogNywgImlhdCI6IDE3MDAwMDAwMDAsICJuYmYiOiAxNzAwMDAwMDAwL"
    "CAiZXhwIjogNDEwMjQ0NDgwMCwgInNjb3BlIjogInJlYWQgd3JpdGUifQ.sqg4pnDwlhDYEZ6rm2FqBA5K8UDyyIN-"
    "_CA3_U5KWjHptwydsG9VodD6gR4gMsj-TDwNA0O8FguU4ANS4XsV6osKULfDdj_pD4D6ui8M0xYVP09Cc1NCiLGvSu"
    "USaQUuhusjyfcFOzxtFdDyqdIp3NCyMBITUeE6RRO0TYKjTWt75QNtPNw5soPog-yZ9ouWCTI_DWUoS55u7gK2fFbs"
    "4R6XYwOLd0uH_pAL-XVtxeCiALdxQZHlQfaupRNr4F_Ur6KSCYg3Uw4HsoIlfM3wFkenD2hMk5Lx9bpatiQokhU3Ly"
    "xIgY6VWp3R_ojkIPx01byslmLwVIVAJwMpYSQdLw";
static const char TOK_NO_AUD[] __attribute__((unused)) =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiAiaHR0cHM6Ly9pc3N1ZXIudGV"
    "zdCIsICJzdWIiOiAiYWxpY2UiLCAiaWF0IjogMTcwMDAwMDAwMCwgIm5iZiI6IDE3MDAwMDAwMDAsICJleHAiOiA0M"
    "TAyNDQ0ODAwLCAic2NvcGUiOiAicmVhZCB3cml0ZSJ9.ceQO4-fRElAm9nzixJ5SZe-ZrEvlD0AH8uAVaazeuFcVxa"
    "tDsh4CILXG2tgzGLEA7lfnITU3kscyedl9OaLM6jH67Cy9aOaxGtxMMvMJcGT2WfRQOkN3Jl07xAKgOZYjJHxvveFY"
    "8a7bbU8SEQc_ByR7Saf837kzgMplJstOs6GkJ4hvghEwi1WJAUEMK9IarIfXdAZRvWsgyYJOWGuVhR0uayq5JZLotz"
    "FN8q-Tkz63z9DrED86z8bMQT3ps8Gn7pT9tgEsp0s28ZFSgvmY3HjFJldskYaL4w_nwXI9Fex-BJbFYM_2z00YHgUE"
    "3rkqqy6Q5QSKiy4Tz0aXVYwk0g";
static const char TOK_NO_ISS[] __attribute__((unused)) =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYTEiLCJ0eXAiOiJKV1QifQ.eyJzdWIiOiAiYWxpY2UiLCAiYXVkIjogWyJ"
    "zdmMtYSIsICJzdmMtYiJdLCAiaWF0IjogMTcwMDAwMDAwMCwgIm5iZiI6IDE3MDAwMDAwMDAsICJleHAiOiA0MTAyN"
    "DQ0ODAwLCAic2NvcGUiOiAicmVhZCB3cml0ZSJ9.zIzyFJPtAjvcuDV4uAEeNeHt6fBxjWUauBRtscOqqPfWMpAfWW"
    "Om3cgq_16vRJjMlpvDqB-Ifgg9_ZUPDj7ZpcYysCifNRyCi5oC7HURyLb_Yjl7ZRdH89H0MR1qyKEnoqixWti6uKi5"
    "9PRtgjWkfDHOOFLEK5xqaLymKo0D7tNOsqqxg_HkaVyOm5__7GRXweqXksLcT5dYHBnwpxrHzIZ1E_z3N-vriITRZN"
    "MwBnV0F6ErjcV_b3XXDTJ247OlNl_vBA-licTeTv1ddssmc6SfQw6HaXqY1RozbvImNZRRPqZTvode2jsqq1xckLNj"
    "LMrSgkpFO2bCNeXGc0nQLg";
static const char TOK_SUB_NUMBER[] __attribute__((unused)) =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiAiaHR0cHM6Ly9pc3N1ZXIudGV"
    "zdCIsICJzdWIiOiA0MiwgImF1ZCI6IFsic3ZjLWEiLCAic3ZjLWIiXSwgImlhdCI6IDE3MDAwMDAwMDAsICJuYmYiO"
    "iAxNzAwMDAwMDAwLCAiZXhwIjogNDEwMjQ0NDgwMCwgInNjb3BlIjogInJlYWQgd3JpdGUifQ.OVZZTiyXX8eZWUp1"
    "AX9Q2fz8aWKyj8V89fCtgCai4WLT4pM72zayy_dXDX3fXaZDc3G4vCqWii08glEkJrhBj3IuNSWKYKahGlceZjvQ1V"
    "tWxjUdZjrf_RSVcEEyRG5IcDKmKfmydKNEOWogC1oc20h_QPhvyKW8J_68ttSkF1_BHXXgLaIGHUHiAJ6wxUbiiFJ_"
    "o3a51ASwgwG2zDEPLcacXPxAouq82qCLfG4XRatDpkt5U2eq-3MFW2gLXYnElUn-a_Q6eA8DkqNdrjt6625Hfltst5"
    "Cg1H_JB4a_vBp3-CFva2S9Vb94DIwhhsYktDkJnKTjBNIb_HmUxHkqhQ";
static const char TOK_SUB_LONG[] __attribute__((unused)) =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiAiaHR0cHM6Ly9pc3N1ZXIudGV"
    "zdCIsICJzdWIiOiAiYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhY"
    "WFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWF"
    "hYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhY"
    "WFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYSI"
    "sICJhdWQiOiBbInN2Yy1hIiwgInN2Yy1iIl0sICJpYXQiOiAxNzAwMDAwMDAwLCAibmJmIjogMTcwMDAwMDAwMCwgI"
    "mV4cCI6IDQxMDI0NDQ4MDAsICJzY29wZSI6ICJyZWFkIHdyaXRlIn0.ez3p0hKqs_J0U4hWhy_z0Xb2qnEXo1OyLsO"
    "KMaY8VVNL604PSl3hHr9rviWenULqBPiGLjBBon1rOO6-Cpv3NnFp_rz-PRg_xzJoWLCfMSgLKlzJ6XYvci8SD22qE"
    "-5Sje1r2KdJozJtmCyICYyeE_EnyY__biucZB-zWtKE3AWGpusbxWnHrreZsoOWvzGzO57EgQaZMq8ZbDlPm8YAdwF"
    "UT8AGAYC__4DVqvFoSIWCFpUJ1gjbVslow3_kN69hEj6deOx1GJjWmAhg4zVhubbLfUcijJvfdM8YbMfHh-WBfWhfK"
    "EYFkNY2jN7-iNhWNBDZUpommcbNJ0dHnjI8Uw";
static const char TOK_SUB_255[] __attribute__((unused)) =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiAiaHR0cHM6Ly9pc3N1ZXIudGV"
    "zdCIsICJzdWIiOiAiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiY"
    "mJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJ"
    "iYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiY"
    "mJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiIiw"
    "gImF1ZCI6IFsic3ZjLWEiLCAic3ZjLWIiXSwgImlhdCI6IDE3MDAwMDAwMDAsICJuYmYiOiAxNzAwMDAwMDAwLCAiZ"
    "XhwIjogNDEwMjQ0NDgwMCwgInNjb3BlIjogInJlYWQgd3JpdGUifQ.EagLrJdzTqhJTPeMtgQ49Wl5ga0QTF3a6cf-"
    "PQtp5EelTV8LyevXzL7ddw9Kdydnr-vcIc6FoUb4mGOrAKhA-5eECVyfCpxFe8Wy4ywHULzev4vuESxgFcoSg-gM-s"
    "AmiMTe8oghBRW_E1ePAcLAeh6aj685u05qMULZ3Vu_r8ZMj7yS5FssowORJMvDiIEFIe85DHKJNqn5-NdVhI9NFW3k"
    "UyMQ_7SOxmYJ0ma2fRkjDlXpPf05dmjFsLvauQPFw6UVB0csE0CCwCA0sMfa4N3zNOmTJrQj1Ula4e8tErLaJ4g9dZ"
    "cLmQDQCfWn0IxRQCLgwZHQuVFwFe6UxFskjA";
static const char TOK_SUB_NUL[] __attribute__((unused)) =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYTEiLCJ0eXAiOiJKV1QifQ.eyJzdWIiOiJhbGljZVx1MDAwMGFkbWluIiw"
    "iZXhwIjo0MTAyNDQ0ODAwfQ.F-__hsiyibzGfkrp3aEixsZ1uqHTsbHyRAKrs29RCaWnZ7TfIIdnvI1WjIZqsb1t2C"
    "NQt_fi59Zb6fLOZHHJ9mSzZkxvLQ0KSs8vbXI3G_ONl6NY3c95irPgbFRc0Gw2mAdNoW7NVzPqu1vQXRq7HN_UkxMe"
    "41Arxwear8jMA6AybDKlmMKECwDRillnEkhIJA3Xx1ikO2m2Ow47sQ9jN9s8mM9VDweyMEthcvOSn_Wqe3-24Aq2CN"
    "j3q7O878VsmYdkC28e3iWyrPVyxEvl-q2ubiDQaVPE4pOnD7AItyWXh0f5KeTSy3ycu2yZ0WyxMYQY0-POk7WoYM6O"
    "M0boTQ";
static const char TOK_DUP_SUB[] __attribute__((unused)) =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYTEiLCJ0eXAiOiJKV1QifQ.eyJzdWIiOiJhbGljZSIsInN1YiI6ImFkbWl"
    "uIiwiZXhwIjo0MTAyNDQ0ODAwfQ.J7i3M6J0eOJXAj8SaqZ8_czrHpAIC4Vfr2YUfbzotzjSFIvV9cDPr4nS_gYvbM"
    "IHc9z9QvtRma_-4xyFBBCI8m17lEP0LomoI53-h-3kk51JUqIB3PUybvD-H6Ti6N4B_ZEpMQpJpjNhB8rKVQ-fHTK1"
    "P5vpHUYSJtm8dd2-DCS6Hks4TONYHC3H_IFpEkTxCqrrkWCTU8TEN_IqNsNNQL3R_P_oFt9MfjkTpZNcJWw_NZiOdN"
    "STPt4tfKKglMGnGY1mtIHQdilhkqXY3CxBh0NkAQKfdcAwEBBTxh93SxsnjiHNerkUc_dvN1JvxmZfQ247TfyO9YrC"
    "QOd-Q82xyQ";
static const char TOK_PAYLOAD_ARRAY[] __attribute__((unused)) =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYTEiLCJ0eXAiOiJKV1QifQ.WzEsMl0.RwwDs4pnh0f3gxXIPn_s8_wP3-h"
    "rRh73-G3od95nh6fVhja1VWkJcXuwxeJpQOuAOjFn6erqmcxpDNB4yi6MXPPDh1Lp5__JjYuFGP5AYIbxzC_Qxl0jh"
    "nkWKz_8TLnjHpZ7FTU6rZrzrTJWWUTuB6cuEzTFAm48y030PxxjiF_VB3NbRKzdY_MX_aBlamObwwW5gSM1-swl9r_"
    "xIaSb9DcHg0fQKn6ioTgCp1gw2SLLmdpLv01yOAFoiAyGHSuLjNHl4EU9PLIU3EDkCJZ7TYmIhbK5ZRkqukmUNHPq3"
    "E_74JF3xVviTTwxDyOncdXIZev5KXFqHiVfpCxfEgBURA";
static const char TOK_PAYLOAD_TRAILING[] __attribute__((unused)) =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYTEiLCJ0eXAiOiJKV1QifQ.eyJleHAiOjQxMDI0NDQ4MDB9IHg.A_5MUHm"
    "-wP39SYUxfkOHqZR5AeNGVbUL8j60Srs212DRTCEpl2e2Gl5PJYP3kGqmCHGaeK5-haWXE1PpRfIvihNcky23Ph84Z"
    "Svqte0NMu9ytTigElytpKNT1suN1rItx1sbtAAZMlgAROUEYAzm-jneDToBTThaxVyt4mpZnTkr7aIAy1yszt8SOM-"
    "a99S-Fu0_OCH-9z3K62zQgPlph8u7b8f2dF_LaqYOxtUxoX8vDLiILmj244-ec-KgNY6Tf0uqtZ6k_xugZJBKQSWMC"
    "ntLcjsZEECl1KFIp6hUgSUg-mFVzK_6sC4EEU1uhCp-aVRwJvF7HkTYc0KYAQIueg";
static const char TOK_CRIT[] __attribute__((unused)) =
    "eyJhbGciOiJSUzI1NiIsImNyaXQiOlsiZXhwIl0sImtpZCI6InJzYTEiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiAiaHR"
    "0cHM6Ly9pc3N1ZXIudGVzdCIsICJzdWIiOiAiYWxpY2UiLCAiYXVkIjogWyJzdmMtYSIsICJzdmMtYiJdLCAiaWF0I"
    "jogMTcwMDAwMDAwMCwgIm5iZiI6IDE3MDAwMDAwMDAsICJleHAiOiA0MTAyNDQ0ODAwLCAic2NvcGUiOiAicmVhZCB"
    "3cml0ZSJ9.lPR2EO9IowlFxUYIQxeBFFjWECRd3LHWudw1kbnJ6C9oJuMAxN8vxS3Ciqp1Af8RIB1tX_AT-316Uw9B"
    "UPFz5TuEcmI1pKHB_AZG7YqWKCwlA6rUqTXn0fV8qbjwXup7Mxnw0DUcPg4hk6gjZtbDh42wEUc8M8PwqdvNuv02WT"
    "JkBBbR4HMtvYe3bZFS44dJbtnHDFEQqbXEV7JEbQNao8r07k8A5rRMHkjV7XYuHUVUE64gveZn5xrUgyogVBHB4LKb"
    "G5DYl8Tsx91zlMRY8Wgp_nNDEVzBO2KqHbNGBQvlmNO3x0x6mZP9gailFt6ol7OS6zLPey-4Hmjti9dsqw";
static const char TOK_KID_NUMBER[] __attribute__((unused)) =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6NX0.eyJpc3MiOiAiaHR0cHM6Ly9pc3N1ZXIudGVzdCIsICJzdWIiOiAiYWxpY2"
    "UiLCAiYXVkIjogWyJzdmMtYSIsICJzdmMtYiJdLCAiaWF0IjogMTcwMDAwMDAwMCwgIm5iZiI6IDE3MDAwMDAwMDAs"
    "ICJleHAiOiA0MTAyNDQ0ODAwLCAic2NvcGUiOiAicmVhZCB3cml0ZSJ9.kVPXyxolJND76mY96opFuZWp81D2inqRA"
    "pAjz09U0z7Oqtu0M6jA7dh-S15WRuB6frj6ah1q2bzUrtmVHY1ASENBOS3tQVQAnHX-PKR08iOplX4meQIiDIjZuYN"
    "l3KCTmnkBc6SNXdsjcECYXN7BodzHNBRZqETU4-LldjZKwlIaUGtGrrSaZb67RQ3E1p2XC9088t_8hPFiDo1wWYsMT"
    "CqjlG6olEzo1x63kfsy6-EtItg1ML1oLMeprzHTlGUpvMXTzFaKbbkdUkRTQV2gR-1MfrIB_SaDMD-pyYkUl0IT7U5"
    "m93NTBxCxspaCFIutqeDHslhHhuWdJPfklM1uZQ";
static const char TOK_DUP_ALG[] __attribute__((unused)) =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYTEiLCJhbGciOiJub25lIn0.eyJpc3MiOiAiaHR0cHM6Ly9pc3N1ZXIudG"
    "VzdCIsICJzdWIiOiAiYWxpY2UiLCAiYXVkIjogWyJzdmMtYSIsICJzdmMtYiJdLCAiaWF0IjogMTcwMDAwMDAwMCwg"
    "Im5iZiI6IDE3MDAwMDAwMDAsICJleHAiOiA0MTAyNDQ0ODAwLCAic2NvcGUiOiAicmVhZCB3cml0ZSJ9.enln0Cjuf"
    "kojKgBOP4yKuHW0e9N1ztJBJ9Qkuk9uw_GhvrGZhDa3gRgg9yK6pTsxKcXZjYSEX6UUl_nr4pEv6QNYZ2vXYHMiBGA"
    "146Xb5ZlRiA2HHE3QkJKx64YRw5di_4HpuWrHcT45gL_WelnHWCpa8MIB7doNCKfOI3b0xssVqfQ92KPMrcfbX7Mob"
    "EaTLESOYLrRM_i2w5zdsyKhTa4ld7C7hgxgPL5uIrsag74fYM_Fkbb9fMFsfOg5-TSEZXN6E1ys9C2HY-ddrGt6yo_"
    "XqFi-yKQYUm3PNWfhvlEPVvVMzn3LkYMvkeXlp93H95WaFmXLjAMAWT5eW9PaWA";
static const char TOK_HEADER_TRAILING[] __attribute__((unused)) =
    "eyJhbGciOiJSUzI1NiJ9e30.eyJpc3MiOiAiaHR0cHM6Ly9pc3N1ZXIudGVzdCIsICJzdWIiOiAiYWxpY2UiLCAiYX"
    "VkIjogWyJzdmMtYSIsICJzdmMtYiJdLCAiaWF0IjogMTcwMDAwMDAwMCwgIm5iZiI6IDE3MDAwMDAwMDAsICJleHAi"
    "OiA0MTAyNDQ0ODAwLCAic2NvcGUiOiAicmVhZCB3cml0ZSJ9.dYLwsjyxxnAwiSr-1x-w331luL4jYJOyQRWcfEhck"
    "B929KofAHbFZQ_oKj3M4aiYYnSwtgB5foH9YxSPonnJODabFh7PiDXDtFx_SPfQ_4TG-gW7j2BsvkPIDuFK1XfNLO7"
    "R4OEfHrZgf5AJYE5sekGZ4EenCKmRmXGGgwqk4FqN8V1Todbhxm1j3BWmZJuSAoTxaTaw4JyPWNTMUECZeTQ4kpojs"
    "VYsLIsj3ZmbJxTdDARRkw2UBAYEskjiacN6dGc6u8QvfLECRbqGUah4bW2-C-GaII-cRZRIFLkU4OUTq6oWtgGjUDS"
    "NZHLziGOOvd83B65P91yWQGge08_MKw";
static const char TOK_MINIMAL[] __attribute__((unused)) =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYTEiLCJ0eXAiOiJKV1QifQ.eyJleHAiOiA0MTAyNDQ0ODAwfQ.k3sJ1I7l"
    "zzMuSliGEHAb9dzRH_TbW418ikFziYIt8efE3TfNc1lfJG7lkoeySzhEGMSsKVtZUF3k5_NRkAF78OlV_jqCa7rIve"
    "CzFiEl5gw53bSQ6k0f-Lc8cJhmZYFtnKrEgcehbyMxZnoDqA1Waq6iEVCLPcfOet1BtNC1-runaTlh7T2_UDp-LCbY"
    "HCjVjd_FZGiw6nt5T3qkiHHQz-xRhQAc6-54N1emiDrJmJX1q-DmwIK2xFkbpAp8ADOpoxQM9bvskzzGbg5FVKCW8c"
    "BBVbFH5-h-209vH2GnUt_DcSf-XqtpnbYp1aJMs6tkum3SE1VppggcLh-Rg1gsmA";

#endif
