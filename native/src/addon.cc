// Module initialisation. The addon is context-aware (NODE_MODULE_INIT): it is
// initialised once per Environment that loads it (the main thread and every
// worker thread), each with its own EnvState (waiter threads, uv handle).
#include "common.h"
#include "waiter.h"

namespace mpnative {
namespace {

// stats(): { mappings, waiterThreads, pendingWaits, futexWaitv } -- for tests
// and diagnostics. `mappings` counts the whole process, the rest this thread.
void StatsJs(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  args.GetReturnValue().Set(
      StateOf(args)->Stats(isolate->GetCurrentContext()));
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
  exports
      ->Set(context, v8::String::NewFromUtf8Literal(isolate, "abiVersion"),
            v8::Integer::New(isolate, mpnative::kAbiVersion))
      .Check();
}
