#!/usr/bin/python3
"""JSON requests through descriptors (bench/load/pb_json.h) against protobuf's own mapping.

Makes a protoset with protoc (--include_imports) from grpc's test messages, helloworld and
kinds.proto (every field kind), feeds each JSON case to pb_json_encode, and compares its bytes
with json_format.Parse(...).SerializeToString() from Python's protobuf over the same protoset.
Inputs protobuf refuses must be refused too, with a reason naming the culprit.

    check_pb_json.py PB_JSON_ENCODE PROTOC PROTO_DIR TEST_DIR
"""
import json
import os
import subprocess
import sys
import tempfile

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

GRPC_PROTO = "/usr/share/grpc-proto"

# (call or message type, JSON text). Each is compared byte for byte with Python's.
SAME = [
    ("helloworld.Greeter/SayHello", '{"name": "world"}'),
    ("helloworld.Greeter.SayHello", '{"name": ""}'),
    ("/helloworld.Greeter/SayHello", '{}'),
    ("helloworld.Greeter/SayHello", '{"name": "h\\u00e9llo \\ud83d\\ude00"}'),
    ("grpc.testing.TestService/UnaryCall",
     '{"responseType": "COMPRESSABLE", "responseSize": 314159,'
     ' "payload": {"body": "AAAAAAAAAAAAAAAA"}}'),
    ("grpc.testing.TestService/UnaryCall",
     '{"response_size": 1, "fill_username": true, "fill_oauth_scope": false,'
     ' "response_compressed": {"value": true}, "expect_compressed": {"value": false},'
     ' "response_status": {"code": 2, "message": "test status message"}}'),
    ("grpc.testing.TestService/UnaryCall",
     '{"payload": {"type": 0, "body": ""}, "responseCompressed": {}}'),
    ("grpc.testing.TestService/UnaryCall",
     '{"orcaPerQueryReport": {"cpuUtilization": 0.5, "memoryUtilization": 1e-3}}'),
    ("grpc.testing.TestService/UnaryCall", '{"payload": {"body": "-_-_"}}'),
    ("grpc.testing.TestService/UnaryCall", '{"payload": {"body": "YQ"}}'),
    ("grpc.testing.TestService/UnaryCall", '{"payload": {"body": "YWI="}}'),
    ("grpc.testing.TestService/UnaryCall", '{"responseSize": -5, "responseType": null}'),
    ("grpc.testing.TestService/StreamingOutputCall",
     '{"responseParameters": [{"size": 31415}, {"size": 9, "intervalUs": 10},'
     ' {"size": 2653, "compressed": {"value": true}}, {}], "payload": {"body": "AAAA"}}'),
    ("grpc.testing.TestService/FullDuplexCall",
     '{"response_parameters": [], "response_status": {"code": 0, "message": ""}}'),
    ("grpc.testing.TestService/StreamingInputCall", '{"payload": {"body": "AAECAwQ="}}'),
    ("grpc.testing.TestService/EmptyCall", '{}'),
    ("urpc.loadtest.Kinds",
     '{"fDouble": 1.5, "fFloat": 0.1, "fInt64": "-9007199254740993", "fUint64":'
     ' "18446744073709551615", "fInt32": -1, "fFixed64": "1234567890123", "fFixed32":'
     ' 4294967295, "fBool": true, "fString": "s", "fBytes": "/+8=", "fUint32": 7,'
     ' "fColor": "GREEN", "fSfixed32": -2, "fSfixed64": "-3", "fSint32": -2147483648,'
     ' "fSint64": "-9223372036854775808"}'),
    ("urpc.loadtest.Kinds",
     '{"f_double": "NaN", "f_float": "-Infinity", "f_int64": 12, "f_int32": "2147483647",'
     ' "f_color": "NEGATIVE", "f_sint32": 1}'),
    ("urpc.loadtest.Kinds", '{"fColor": 2, "fDouble": "Infinity", "fFloat": "2.5e3"}'),
    ("urpc.loadtest.Kinds", '{"fDouble": -0.0, "fFloat": "-0"}'),
    ("urpc.loadtest.Kinds", '{"fColor": "7", "fUint32": 4294967295, "fInt64": 1e3}'),
    ("urpc.loadtest.Kinds", '{"fInt32": 0, "fString": "", "fBool": false, "fColor": 0,'
     ' "fBytes": "", "fDouble": 0, "fInner": {}}'),
    ("urpc.loadtest.Kinds",
     '{"rInt32": [1, -1, 0, 300], "rSint64": ["-5", 5], "rDouble": [0.25, -0.5],'
     ' "rColor": ["RED", 2, "NEGATIVE"], "rString": ["a", "", "c"], "rBytes": ["AA==", ""],'
     ' "rInner": [{"a": 1}, {}, {"tags": ["x"], "next": {"a": 2}}], "rUnpacked": [1, 0, 2],'
     ' "rBool": [true, false], "rFixed32": [1, 2]}'),
    ("urpc.loadtest.Kinds", '{"rInt32": [], "rInner": [], "rUnpacked": []}'),
    ("urpc.loadtest.Kinds", '{"oString": ""}'),
    ("urpc.loadtest.Kinds", '{"oInt32": 0, "optInt32": 0, "optString": ""}'),
    ("urpc.loadtest.Kinds", '{"oInner": {"a": 0}, "o_string": null}'),
    ("urpc.loadtest.Kinds",
     '{"wInt32": 0, "wString": "x", "wBool": false, "wBytes": "AQI=", "wUint64": "5",'
     ' "wDouble": 2.5, "empty": {}}'),
    ("urpc.loadtest.Kinds", '{"wInt32": 7, "wString": ""}'),
    ("urpc.loadtest.Kinds", '{"custom": 5, "lowerSnakeCaseName": 6}'),
    ("urpc.loadtest.Kinds", '{"field_with_json_name": 5, "lower_snake_case_name": 6}'),
    ("urpc.loadtest.Kinds",
     '{"legacy": {"count": 0, "name": "", "unpacked": [1, 2], "packed": [3, 4], "flag": false}}'),
    ("urpc.loadtest.Kinds", '{"fInner": {"next": {"next": {"next": {"a": 3}}}}}'),
    # One entry per map: the order of several is unspecified.
    ("urpc.loadtest.Kinds", '{"mStrInt": {"k": 0}}'),
    ("urpc.loadtest.Kinds", '{"mIntStr": {"-12": "v"}, "mBoolInner": {"true": {"a": 1}}}'),
    ("urpc.loadtest.Kinds", '{"mUintColor": {"4": "RED"}, "m_bool_inner": {"false": {}}}'),
    ("grpc.testing.TestService/UnaryCall",
     '{"orcaPerQueryReport": {"requestCost": {"a": 1.5}, "utilization": {"": 0}}}'),
]

# Compared as parsed messages (several map entries: their order is unspecified).
EQUAL = [
    ("urpc.loadtest.Kinds", '{"mStrInt": {"a": 1, "b": 2, "c": 0}, "mIntStr": {"1": "x", "2": ""}}'),
    ("grpc.testing.XdsUpdateClientConfigureService/Configure",
     '{"types": ["UNARY_CALL", "EMPTY_CALL"], "metadata": [{"type": 1, "key": "k",'
     ' "value": "v"}], "timeoutSec": 5}'),
]

# (call or type, JSON, a text the reason must contain). Python must refuse them too.
REFUSED = [
    ("helloworld.Greeter/SayHello", '{"nmae": "x"}', '"nmae"'),
    ("grpc.testing.TestService/UnaryCall", '{"payload": {"bdy": "AA=="}}',
     'grpc.testing.SimpleRequest.payload: unknown field "bdy" in message grpc.testing.Payload'),
    ("grpc.testing.TestService/UnaryCall", '{"responseSize": 1.5}', "response_size: 1.5"),
    ("grpc.testing.TestService/UnaryCall", '{"responseSize": 2147483648}', "out of range"),
    ("grpc.testing.TestService/UnaryCall", '{"responseSize": "12 "}', "response_size"),
    ("grpc.testing.TestService/UnaryCall", '{"responseType": "NOPE"}', '"NOPE"'),
    ("grpc.testing.TestService/UnaryCall", '{"fillUsername": 1}', "fill_username"),
    ("grpc.testing.TestService/UnaryCall", '{"payload": {"body": "A"}}', "base64"),
    ("grpc.testing.TestService/UnaryCall", '{"payload": {"body": "A*=="}}', "base64"),
    ("grpc.testing.TestService/UnaryCall", '[1]', "JSON object"),
    ("grpc.testing.TestService/StreamingOutputCall", '{"responseParameters": {"size": 1}}',
     "array"),
    ("grpc.testing.TestService/StreamingOutputCall", '{"responseParameters": [null]}', "null"),
    ("urpc.loadtest.Kinds", '{"fUint32": -1}', "negative"),
    ("urpc.loadtest.Kinds", '{"fUint64": "-1"}', "f_uint64"),
    ("urpc.loadtest.Kinds", '{"fFloat": 1e39}', "float"),
    ("urpc.loadtest.Kinds", '{"fInt64": 1e300}', "f_int64"),
    ("urpc.loadtest.Kinds", '{"fInt64": "9223372036854775808"}', "f_int64"),
    ("urpc.loadtest.Kinds", '{"fDouble": "nan"}', "f_double"),
    ("urpc.loadtest.Kinds", '{"fString": 5}', "f_string"),
    ("urpc.loadtest.Kinds", '{"oString": "a", "oInt32": 1}', "oneof"),
    ("urpc.loadtest.Kinds", '{"mStrInt": [1]}', "map"),
    ("urpc.loadtest.Kinds", '{"mIntStr": {"x": "v"}}', '"x"'),
    ("urpc.loadtest.Kinds", '{"mBoolInner": {"yes": {}}}', '"yes"'),
    ("urpc.loadtest.Kinds", '{"wInt32": {"value": 1}}', "Int32Value"),
    ("urpc.loadtest.Kinds", '{"rColor": ["BLUE"]}', '"BLUE"'),
    ("urpc.loadtest.Kinds", '{"legacy": {"count": 1, "extra": 2}}', '"extra"'),
    ("urpc.loadtest.Kinds", '{"fInner": {"a": 1', "not valid JSON"),
]

# Refused here though Python's json_format lets them through (Go's protojson and C++'s
# JsonStringToMessage refuse them too): an array for a message, one field under both names.
STRICTER = [
    ("grpc.testing.TestService/UnaryCall", '{"payload": []}', "JSON object"),
    ("grpc.testing.TestService/UnaryCall", '{"responseSize": 1, "response_size": 2}', "twice"),
]


def message_class(pool, name):
    desc = pool.FindMessageTypeByName(name)
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


def input_type(pool, call):
    """The message type name a call or type resolves to, as the C side resolves it."""
    c = call.lstrip("/")
    sep = c.rfind("/") if "/" in c else c.rfind(".")
    try:
        svc = pool.FindServiceByName(c[:sep])
        return svc.methods_by_name[c[sep + 1:]].input_type.full_name
    except KeyError:
        return call


def run_encoder(exe, protoset, call, lines):
    out = subprocess.run([exe, protoset, call], input="".join(l + "\n" for l in lines),
                         capture_output=True, text=True, check=True).stdout.splitlines()
    if len(out) != len(lines):
        sys.exit(f"{call}: {len(lines)} inputs, {len(out)} answers")
    return out


def main():
    exe, protoc, proto_dir, test_dir = sys.argv[1:5]
    with tempfile.TemporaryDirectory() as tmp:
        protoset = os.path.join(tmp, "all.protoset")
        subprocess.run([protoc, "--include_imports", f"--descriptor_set_out={protoset}",
                        f"-I{GRPC_PROTO}", f"-I{proto_dir}", f"-I{test_dir}", "-I/usr/include",
                        "grpc/testing/test.proto", "helloworld.proto", "kinds.proto"],
                       check=True)
        with open(protoset, "rb") as f:
            fds = descriptor_pb2.FileDescriptorSet.FromString(f.read())
        pool = descriptor_pool.DescriptorPool()
        for fd in fds.file:
            pool.Add(fd)

        failures = []
        checked = 0
        groups = {}
        for kind, cases in (("same", SAME), ("equal", EQUAL), ("refused", REFUSED),
                            ("stricter", STRICTER)):
            for case in cases:
                groups.setdefault(case[0], []).append((kind,) + case[1:])
        for call, cases in groups.items():
            answers = run_encoder(exe, protoset, call, [c[1] for c in cases])
            cls = message_class(pool, input_type(pool, call))
            for (kind, text, *rest), got in zip(cases, answers):
                checked += 1
                try:
                    msg = json_format.Parse(text, cls())
                    want = msg.SerializeToString()
                except (json_format.ParseError, ValueError) as e:
                    msg, want = None, e
                where = f"{call} {text}"
                if kind in ("refused", "stricter"):
                    if kind == "refused" and msg is not None:
                        failures.append(f"{where}: Python accepts it ({want.hex()})")
                    elif not got.startswith("error ") or rest[0] not in got:
                        failures.append(f"{where}: want an error naming {rest[0]!r}, got {got}")
                    continue
                if msg is None:
                    failures.append(f"{where}: Python refuses it: {want}")
                elif not got.startswith("ok "):
                    failures.append(f"{where}: {got}")
                elif kind == "same" and got[3:] != want.hex():
                    failures.append(f"{where}:\n  ours   {got[3:]}\n  python {want.hex()}")
                elif kind == "equal" and cls.FromString(bytes.fromhex(got[3:])) != msg:
                    failures.append(f"{where}: decodes to another message:\n  ours   {got[3:]}"
                                    f"\n  python {want.hex()}")
        if failures:
            sys.exit(f"{len(failures)} of {checked} cases differ:\n" + "\n".join(failures))
        print(f"{checked} JSON requests: the same bytes as json_format (or refused by both)")


if __name__ == "__main__":
    main()
