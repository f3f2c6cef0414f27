/* Private to obs/: the parts of the exposition each file writes. */
#ifndef URPC_OBS_METRICS_IMPL_H
#define URPC_OBS_METRICS_IMPL_H

#include "obs/exposition.h"
#include "obs/urpc_metrics.h"

/* metrics.c: go-grpc-prometheus's families. */
int obs_metrics_write_grpc(urpc_metrics *m, obs_out *o);
/* server_stats.c: the server's own uringrpc_* families. */
int obs_server_write(urpc_server *s, obs_out *o);
/* process.c: process_* as Prometheus client libraries export them, and uringrpc_build_info. */
int obs_process_write(obs_out *o);

#endif
