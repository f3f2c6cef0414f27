// grpcpp-helloworld-server: the grpc C++ peer that bench/ compares uringrpc against.
//
//   grpcpp-helloworld-server --port N --api callback|async --threads N [--prepost N]
//                            [--tls-cert FILE --tls-key FILE]
//
// Serves helloworld.Greeter/SayHello (unary.sh) and, of grpc.testing.TestService, the two
// streaming methods streaming.sh drives, with uringrpc-server's semantics:
//   StreamingOutputCall  one StreamingOutputCallResponse{payload: `size` zero bytes} per
//                        response_parameters entry, in order, then OK;
//   FullDuplexCall       the same for every request as it arrives; OK once the client has
//                        half-closed and every response is written.
// interval_us, compression and response_status are ignored (the benchmarks use none of them).
// With --api async the other TestService methods are never requested, so a call to one waits
// until its deadline; with --api callback they answer UNIMPLEMENTED.
//
// Binds 127.0.0.1 only. Prints "listening on 127.0.0.1:PORT" once bound (the real port when
// --port 0), then serves until SIGTERM or SIGINT. With --tls-cert/--tls-key (a PEM chain and
// its key) the port serves TLS instead of h2c: grpc::SslServerCredentials with grpc's defaults
// (TLS 1.2 and 1.3, ALPN h2, no client certificate requested).
//   callback: grpc::CallbackService with the default ServerUnaryReactor and one write or bidi
//             reactor per stream; grpc's own threads run the callbacks, so --threads does not
//             apply.
//   async:    the classic completion-queue state machines, --threads CQs, one thread polling
//             each, --prepost calls of each method requested in advance per CQ so that bursts
//             of new streams do not wait for a request to be posted. One Write in flight per
//             stream (the API allows no more), each a plain Write (no buffer hint), as a
//             typical grpc C++ streaming service writes.

#include <atomic>
#include <chrono>
#include <deque>
#include <fstream>
#include <mutex>
#include <sstream>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>

#include <grpcpp/grpcpp.h>

#include "grpc/testing/test.grpc.pb.h"
#include "helloworld.grpc.pb.h"

namespace {

using grpc::testing::StreamingOutputCallRequest;
using grpc::testing::StreamingOutputCallResponse;
using grpc::testing::TestService;
using helloworld::Greeter;
using helloworld::HelloReply;
using helloworld::HelloRequest;

// Largest payload a response may ask for (uringrpc-server's limit too).
constexpr int32_t kMaxPayload = 4 << 20;

// Set before Server::Shutdown so no poller requests a new call on a CQ about to shut down.
std::atomic<bool> g_stopping{false};

class CallbackGreeter final : public Greeter::CallbackService {
  grpc::ServerUnaryReactor *SayHello(grpc::CallbackServerContext *ctx, const HelloRequest *req,
                                     HelloReply *reply) override {
    reply->set_message("Hello " + req->name());
    grpc::ServerUnaryReactor *reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// Everything the async pollers get back from a CQ is one of these.
class Tag {
public:
  virtual ~Tag() = default;
  virtual void Proceed(bool ok) = 0;
};

bool ValidSizes(const StreamingOutputCallRequest &req) {
  for (const auto &p : req.response_parameters())
    if (p.size() < 0 || p.size() > kMaxPayload) return false;
  return true;
}

void FillResponse(StreamingOutputCallResponse *resp, int32_t size) {
  resp->mutable_payload()->mutable_body()->assign(static_cast<size_t>(size), '\0');
}

// One in-flight SayHello on the async API. The tag is the object itself: REQUESTED when
// the call arrives, FINISHING once the reply is written. It deletes itself when done or when
// the CQ drains at shutdown (ok == false).
class CallData final : public Tag {
public:
  CallData(Greeter::AsyncService *svc, grpc::ServerCompletionQueue *cq)
      : svc_(svc), cq_(cq), responder_(&ctx_) {
    svc_->RequestSayHello(&ctx_, &req_, &responder_, cq_, cq_, this);
  }

  void Proceed(bool ok) override {
    if (state_ == State::kRequested && ok) {
      if (!g_stopping.load(std::memory_order_acquire)) new CallData(svc_, cq_);
      reply_.set_message("Hello " + req_.name());
      state_ = State::kFinishing;
      responder_.Finish(reply_, grpc::Status::OK, this);
      return;
    }
    delete this;
  }

private:
  enum class State { kRequested, kFinishing };
  Greeter::AsyncService *svc_;
  grpc::ServerCompletionQueue *cq_;
  grpc::ServerContext ctx_;
  HelloRequest req_;
  HelloReply reply_;
  grpc::ServerAsyncResponseWriter<HelloReply> responder_;
  State state_ = State::kRequested;
};

// StreamingOutputCall on the async API: one Write per response_parameters entry, each issued
// when the previous one completes, then Finish. A failed Write means the call is gone.
class StreamOutCall final : public Tag {
public:
  StreamOutCall(TestService::AsyncService *svc, grpc::ServerCompletionQueue *cq)
      : svc_(svc), cq_(cq), writer_(&ctx_) {
    svc_->RequestStreamingOutputCall(&ctx_, &req_, &writer_, cq_, cq_, this);
  }

  void Proceed(bool ok) override {
    switch (state_) {
    case State::kRequested:
      if (!ok) break;
      if (!g_stopping.load(std::memory_order_acquire)) new StreamOutCall(svc_, cq_);
      if (!ValidSizes(req_)) {
        state_ = State::kFinishing;
        writer_.Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad size"), this);
        return;
      }
      Next();
      return;
    case State::kWriting:
      if (!ok) break;
      next_++;
      Next();
      return;
    case State::kFinishing:
      break;
    }
    delete this;
  }

private:
  void Next() {
    if (g_stopping.load(std::memory_order_acquire)) {
      delete this;
    } else if (next_ < req_.response_parameters_size()) {
      FillResponse(&resp_, req_.response_parameters(next_).size());
      state_ = State::kWriting;
      writer_.Write(resp_, this);
    } else {
      state_ = State::kFinishing;
      writer_.Finish(grpc::Status::OK, this);
    }
  }

  enum class State { kRequested, kWriting, kFinishing };
  TestService::AsyncService *svc_;
  grpc::ServerCompletionQueue *cq_;
  grpc::ServerContext ctx_;
  StreamingOutputCallRequest req_;
  StreamingOutputCallResponse resp_;
  grpc::ServerAsyncWriter<StreamingOutputCallResponse> writer_;
  State state_ = State::kRequested;
  int next_ = 0;
};

// FullDuplexCall on the async API. A Read and a Write may be in flight together, so each has
// its own tag; the object goes once no operation is outstanding and it has finished (or the
// call broke, or the server is stopping).
class DuplexCall {
public:
  DuplexCall(TestService::AsyncService *svc, grpc::ServerCompletionQueue *cq)
      : svc_(svc), cq_(cq), stream_(&ctx_), request_op_(this, Op::kRequest),
        read_op_(this, Op::kRead), write_op_(this, Op::kWrite), finish_op_(this, Op::kFinish) {
    pending_ = 1;
    svc_->RequestFullDuplexCall(&ctx_, &stream_, cq_, cq_, &request_op_);
  }

private:
  struct Op final : Tag {
    enum Kind { kRequest, kRead, kWrite, kFinish };
    Op(DuplexCall *c, Kind k) : call(c), kind(k) {}
    void Proceed(bool ok) override { call->On(kind, ok); }
    DuplexCall *call;
    Kind kind;
  };

  void On(Op::Kind kind, bool ok) {
    pending_--;
    bool stopping = g_stopping.load(std::memory_order_acquire);
    switch (kind) {
    case Op::kRequest:
      if (!ok) break;
      if (!stopping) new DuplexCall(svc_, cq_);
      StartRead();
      break;
    case Op::kRead:
      if (ok && ValidSizes(req_)) {
        for (const auto &p : req_.response_parameters()) queue_.push_back(p.size());
        StartRead();
      } else if (ok) {
        broken_ = true; // a bad size: end the call with INVALID_ARGUMENT below
        bad_request_ = true;
      } else {
        read_done_ = true; // half-close (or the call is gone: the next Write will tell)
      }
      break;
    case Op::kWrite:
      writing_ = false;
      if (!ok) broken_ = true;
      break;
    case Op::kFinish:
      finished_ = true;
      break;
    }
    if (!stopping) Advance();
    if (pending_ == 0 && (finished_ || broken_ || stopping)) delete this;
  }

  void StartRead() {
    if (g_stopping.load(std::memory_order_acquire)) return;
    pending_++;
    stream_.Read(&req_, &read_op_);
  }

  void Advance() {
    if (finishing_) return;
    if (bad_request_) {
      if (writing_) return;
      finishing_ = true;
      pending_++;
      stream_.Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad size"), &finish_op_);
      return;
    }
    if (broken_) return;
    if (!writing_ && !queue_.empty()) {
      FillResponse(&resp_, queue_.front());
      queue_.pop_front();
      writing_ = true;
      pending_++;
      stream_.Write(resp_, &write_op_);
    } else if (!writing_ && read_done_) {
      finishing_ = true;
      pending_++;
      stream_.Finish(grpc::Status::OK, &finish_op_);
    }
  }

  TestService::AsyncService *svc_;
  grpc::ServerCompletionQueue *cq_;
  grpc::ServerContext ctx_;
  grpc::ServerAsyncReaderWriter<StreamingOutputCallResponse, StreamingOutputCallRequest> stream_;
  Op request_op_, read_op_, write_op_, finish_op_;
  StreamingOutputCallRequest req_;
  StreamingOutputCallResponse resp_;
  std::deque<int32_t> queue_; // sizes of the responses still to write
  int pending_ = 0;           // operations in flight on the CQ
  bool read_done_ = false, writing_ = false, finishing_ = false, finished_ = false;
  bool broken_ = false, bad_request_ = false;
};

void PollCq(Greeter::AsyncService *svc, TestService::AsyncService *test_svc,
            grpc::ServerCompletionQueue *cq, int prepost) {
  for (int i = 0; i < prepost; i++) {
    new CallData(svc, cq);
    new StreamOutCall(test_svc, cq);
    new DuplexCall(test_svc, cq);
  }
  void *tag;
  bool ok;
  while (cq->Next(&tag, &ok)) static_cast<Tag *>(tag)->Proceed(ok);
}

// The callback API's TestService: a write reactor per StreamingOutputCall, a bidi reactor per
// FullDuplexCall. Bidi reactions may run concurrently on grpc's threads, hence the mutex.
class CallbackTestService final : public TestService::CallbackService {
  grpc::ServerWriteReactor<StreamingOutputCallResponse> *
  StreamingOutputCall(grpc::CallbackServerContext *,
                      const StreamingOutputCallRequest *req) override {
    class Writer final : public grpc::ServerWriteReactor<StreamingOutputCallResponse> {
    public:
      explicit Writer(const StreamingOutputCallRequest *req) : req_(req) {
        if (ValidSizes(*req_))
          Next();
        else
          Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad size"));
      }
      void OnWriteDone(bool ok) override {
        if (ok)
          Next();
        else
          Finish(grpc::Status(grpc::StatusCode::CANCELLED, "write failed"));
      }
      void OnDone() override { delete this; }

    private:
      void Next() {
        if (next_ < req_->response_parameters_size()) {
          FillResponse(&resp_, req_->response_parameters(next_++).size());
          StartWrite(&resp_);
        } else {
          Finish(grpc::Status::OK);
        }
      }
      const StreamingOutputCallRequest *req_; // grpc keeps it until OnDone
      StreamingOutputCallResponse resp_;
      int next_ = 0;
    };
    return new Writer(req);
  }

  grpc::ServerBidiReactor<StreamingOutputCallRequest, StreamingOutputCallResponse> *
  FullDuplexCall(grpc::CallbackServerContext *) override {
    class Duplex final
        : public grpc::ServerBidiReactor<StreamingOutputCallRequest, StreamingOutputCallResponse> {
    public:
      Duplex() { StartRead(&req_); }
      void OnReadDone(bool ok) override {
        std::lock_guard<std::mutex> lock(mu_);
        if (ok && !ValidSizes(req_)) {
          FinishLocked(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad size"));
          return;
        }
        if (ok) {
          for (const auto &p : req_.response_parameters()) queue_.push_back(p.size());
          StartRead(&req_);
        } else {
          read_done_ = true;
        }
        AdvanceLocked();
      }
      void OnWriteDone(bool ok) override {
        std::lock_guard<std::mutex> lock(mu_);
        writing_ = false;
        if (!ok) {
          FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "write failed"));
          return;
        }
        AdvanceLocked();
      }
      void OnDone() override { delete this; }

    private:
      void AdvanceLocked() {
        if (finished_ || writing_) return;
        if (!queue_.empty()) {
          FillResponse(&resp_, queue_.front());
          queue_.pop_front();
          writing_ = true;
          StartWrite(&resp_);
        } else if (read_done_) {
          FinishLocked(grpc::Status::OK);
        }
      }
      void FinishLocked(const grpc::Status &st) {
        if (finished_) return;
        finished_ = true;
        Finish(st);
      }
      std::mutex mu_;
      StreamingOutputCallRequest req_;
      StreamingOutputCallResponse resp_;
      std::deque<int32_t> queue_;
      bool read_done_ = false, writing_ = false, finished_ = false;
    };
    return new Duplex();
  }
};

[[noreturn]] void Usage(const char *argv0) {
  std::fprintf(stderr,
               "usage: %s --port N --api callback|async --threads N [--prepost N]\n"
               "          [--tls-cert FILE --tls-key FILE]\n"
               "  binds 127.0.0.1:N (0 = any free port) and prints the bound address;\n"
               "  with a PEM certificate chain and key it serves TLS (ALPN h2) there instead\n",
               argv0);
  std::exit(2);
}

int ParseInt(const char *argv0, const char *s, int lo, int hi) {
  char *end = nullptr;
  long v = std::strtol(s, &end, 10);
  if (end == s || *end != '\0' || v < lo || v > hi) Usage(argv0);
  return static_cast<int>(v);
}

bool ReadFile(const std::string &path, std::string *out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::ostringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return !out->empty();
}

} // namespace

int main(int argc, char **argv) {
  int port = 50051;
  int threads = 1;
  int prepost = 64;
  std::string api = "async";
  std::string tls_cert, tls_key;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") Usage(argv[0]);
    if (i + 1 >= argc) Usage(argv[0]);
    const char *v = argv[++i];
    if (a == "--port")
      port = ParseInt(argv[0], v, 0, 65535);
    else if (a == "--threads")
      threads = ParseInt(argv[0], v, 1, 1024);
    else if (a == "--prepost")
      prepost = ParseInt(argv[0], v, 1, 100000);
    else if (a == "--api")
      api = v;
    else if (a == "--tls-cert")
      tls_cert = v;
    else if (a == "--tls-key")
      tls_key = v;
    else
      Usage(argv[0]);
  }
  if (api != "callback" && api != "async") Usage(argv[0]);
  if (tls_cert.empty() != tls_key.empty()) Usage(argv[0]);

  // TLS: grpc's defaults (TLS 1.2 and 1.3, ALPN h2, no client certificate asked for).
  std::shared_ptr<grpc::ServerCredentials> creds = grpc::InsecureServerCredentials();
  if (!tls_cert.empty()) {
    grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
    if (!ReadFile(tls_cert, &pair.cert_chain) || !ReadFile(tls_key, &pair.private_key)) {
      std::fprintf(stderr, "grpcpp-helloworld-server: cannot read %s or %s\n", tls_cert.c_str(),
                   tls_key.c_str());
      return 1;
    }
    grpc::SslServerCredentialsOptions opts(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    opts.pem_key_cert_pairs.push_back(pair);
    creds = grpc::SslServerCredentials(opts);
  }

  // Block the stop signals before any thread (ours or grpc's) exists, so that only the
  // sigwait below sees them and shutdown runs on the main thread.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  CallbackGreeter callback_svc;
  CallbackTestService callback_test_svc;
  Greeter::AsyncService async_svc;
  TestService::AsyncService async_test_svc;
  grpc::ServerBuilder builder;
  int bound = 0;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port), creds, &bound);
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs;
  if (api == "callback") {
    builder.RegisterService(&callback_svc);
    builder.RegisterService(&callback_test_svc);
  } else {
    builder.RegisterService(&async_svc);
    builder.RegisterService(&async_test_svc);
    for (int i = 0; i < threads; i++) cqs.push_back(builder.AddCompletionQueue());
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound == 0) {
    std::fprintf(stderr, "grpcpp-helloworld-server: cannot listen on 127.0.0.1:%d\n", port);
    return 1;
  }
  if (api == "callback" && threads != 1)
    std::fprintf(stderr, "grpcpp-helloworld-server: --threads ignored by the callback API\n");
  std::printf("listening on 127.0.0.1:%d\n", bound);
  std::fflush(stdout);

  std::vector<std::thread> pollers;
  for (auto &cq : cqs) pollers.emplace_back(PollCq, &async_svc, &async_test_svc, cq.get(), prepost);

  int sig = 0;
  sigwait(&stop, &sig);
  g_stopping.store(true, std::memory_order_release);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  for (auto &cq : cqs) cq->Shutdown();
  for (auto &t : pollers) t.join();
  return 0;
}
