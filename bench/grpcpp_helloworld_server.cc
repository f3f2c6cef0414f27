// grpcpp-helloworld-server: the grpc C++ Greeter that bench/ compares uringrpc against.
//
//   grpcpp-helloworld-server --port N --api callback|async --threads N [--prepost N]
//
// Binds 127.0.0.1 only. Prints "listening on 127.0.0.1:PORT" once bound (the real port when
// --port 0), then serves until SIGTERM or SIGINT.
//   callback: grpc::CallbackService with the default ServerUnaryReactor; grpc's own threads
//             run the callbacks, so --threads does not apply.
//   async:    the classic completion-queue CallData state machine, --threads CQs, one thread
//             polling each, --prepost calls requested in advance per CQ so that bursts of new
//             streams do not wait for a request to be posted.

#include <atomic>
#include <chrono>
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

#include "helloworld.grpc.pb.h"

namespace {

using helloworld::Greeter;
using helloworld::HelloReply;
using helloworld::HelloRequest;

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

// One in-flight SayHello on the async API. The tag is the object itself: REQUESTED when
// the call arrives, FINISHING once the reply is written. It deletes itself when done or when
// the CQ drains at shutdown (ok == false).
class CallData {
public:
  CallData(Greeter::AsyncService *svc, grpc::ServerCompletionQueue *cq)
      : svc_(svc), cq_(cq), responder_(&ctx_) {
    svc_->RequestSayHello(&ctx_, &req_, &responder_, cq_, cq_, this);
  }

  void Proceed(bool ok) {
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

void PollCq(Greeter::AsyncService *svc, grpc::ServerCompletionQueue *cq, int prepost) {
  for (int i = 0; i < prepost; i++) new CallData(svc, cq);
  void *tag;
  bool ok;
  while (cq->Next(&tag, &ok)) static_cast<CallData *>(tag)->Proceed(ok);
}

[[noreturn]] void Usage(const char *argv0) {
  std::fprintf(stderr,
               "usage: %s --port N --api callback|async --threads N [--prepost N]\n"
               "  binds 127.0.0.1:N (0 = any free port) and prints the bound address\n",
               argv0);
  std::exit(2);
}

int ParseInt(const char *argv0, const char *s, int lo, int hi) {
  char *end = nullptr;
  long v = std::strtol(s, &end, 10);
  if (end == s || *end != '\0' || v < lo || v > hi) Usage(argv0);
  return static_cast<int>(v);
}

} // namespace

int main(int argc, char **argv) {
  int port = 50051;
  int threads = 1;
  int prepost = 64;
  std::string api = "async";
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
    else
      Usage(argv[0]);
  }
  if (api != "callback" && api != "async") Usage(argv[0]);

  // Block the stop signals before any thread (ours or grpc's) exists, so that only the
  // sigwait below sees them and shutdown runs on the main thread.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  CallbackGreeter callback_svc;
  Greeter::AsyncService async_svc;
  grpc::ServerBuilder builder;
  int bound = 0;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(),
                           &bound);
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs;
  if (api == "callback") {
    builder.RegisterService(&callback_svc);
  } else {
    builder.RegisterService(&async_svc);
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
  for (auto &cq : cqs) pollers.emplace_back(PollCq, &async_svc, cq.get(), prepost);

  int sig = 0;
  sigwait(&stop, &sig);
  g_stopping.store(true, std::memory_order_release);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  for (auto &cq : cqs) cq->Shutdown();
  for (auto &t : pollers) t.join();
  return 0;
}
