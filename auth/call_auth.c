/* The verified token a JWT interceptor attached to a call (auth/jwt.c), through rpc's one
 * pointer for authentication context. */
#include "auth/urpc_auth.h"

const urpc_auth_info *urpc_call_auth(const urpc_call *call) {
  return urpc_call_auth_context(call);
}
