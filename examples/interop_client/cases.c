/* The case table: names as grpc's interop clients take them in --test_case. */
#include <string.h>

#include "cases.h"

const ic_case ic_cases[] = {
    {"empty_unary", ic_case_empty_unary},
    {"large_unary", ic_case_large_unary},
    {"client_streaming", ic_case_client_streaming},
    {"server_streaming", ic_case_server_streaming},
    {"ping_pong", ic_case_ping_pong},
    {"empty_stream", ic_case_empty_stream},
    {"timeout_on_sleeping_server", ic_case_timeout_on_sleeping_server},
    {"cancel_after_begin", ic_case_cancel_after_begin},
    {"cancel_after_first_response", ic_case_cancel_after_first_response},
    {"custom_metadata", ic_case_custom_metadata},
    {"status_code_and_message", ic_case_status_code_and_message},
    {"special_status_message", ic_case_special_status_message},
    {"unimplemented_method", ic_case_unimplemented_method},
    {"unimplemented_service", ic_case_unimplemented_service},
    {"client_compressed_unary", ic_case_client_compressed_unary},
    {"server_compressed_unary", ic_case_server_compressed_unary},
    {"client_compressed_streaming", ic_case_client_compressed_streaming},
    {"server_compressed_streaming", ic_case_server_compressed_streaming},
};
const size_t ic_case_count = sizeof(ic_cases) / sizeof(ic_cases[0]);

const ic_case *ic_case_find(const char *name) {
  for (size_t i = 0; i < ic_case_count; i++)
    if (!strcmp(ic_cases[i].name, name)) return &ic_cases[i];
  return NULL;
}
