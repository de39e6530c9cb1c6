// Module initialisation. The addon is context-aware (NODE_MODULE_INIT): it is
// initialised once per Environment that loads it (the main thread and every
// worker thread), each with its own EnvState (waiter threads, uv handle).
#include "common.h"
#include "waiter.h"

#include <sys/prctl.h>
#include <signal.h>

namespace mpnative {
namespace {

// stats(): { mappings, waiterThreads, pendingWaits, futexWaitv } -- for tests
// and diagnostics. `mappings` counts the whole process, the rest this thread.
void StatsJs(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  args.GetReturnValue().Set(
      StateOf(args)->Stats(isolate->GetCurrentContext()));
}

// parentDeathSignal(signo): the kernel sends `signo` to this process when the thread that
// started it ends (prctl PR_SET_PDEATHSIG). A daemonic child asks for SIGKILL, so that it ends
// with its parent even when its own event loop is busy and never sees the IPC channel close.
// Returns true when set.
void ParentDeathSignalJs(const v8::FunctionCallbackInfo<v8::Value>& args) {
  if (args.Length() < 1 || !args[0]->IsInt32()) {
    ThrowTypeError(args.GetIsolate(), "the signal must be an integer");
    return;
  }
  int signo = args[0].As<v8::Int32>()->Value();
  bool ok = signo >= 0 && signo < NSIG && prctl(PR_SET_PDEATHSIG, signo) == 0;
  args.GetReturnValue().Set(ok);
}

}  // namespace
}  // namespace mpnative

NODE_MODULE_INIT(/* exports, module, context */) {
  (void)module;
  using mpnative::SetMethod;
  v8::Isolate* isolate = context->GetIsolate();
  // Freed by its own Environment cleanup hook (see waiter.cc).
  mpnative::EnvState* state = new mpnative::EnvState(isolate, context);
  v8::Local<v8::External> data = v8::External::New(isolate, state);

  SetMethod(context, exports, "shmCreate", mpnative::ShmCreate, data);
  SetMethod(context, exports, "shmOpen", mpnative::ShmOpen, data);
  SetMethod(context, exports, "shmUnlink", mpnative::ShmUnlink, data);
  SetMethod(context, exports, "futexWait", mpnative::FutexWaitJs, data);
  SetMethod(context, exports, "futexWake", mpnative::FutexWakeJs, data);
  SetMethod(context, exports, "waitAsync", mpnative::WaitAsyncJs, data);
  SetMethod(context, exports, "cancelWait", mpnative::CancelWaitJs, data);
  SetMethod(context, exports, "stats", mpnative::StatsJs, data);
  SetMethod(context, exports, "parentDeathSignal", mpnative::ParentDeathSignalJs, data);
  exports
      ->Set(context, v8::String::NewFromUtf8Literal(isolate, "abiVersion"),
            v8::Integer::New(isolate, mpnative::kAbiVersion))
      .Check();
}
