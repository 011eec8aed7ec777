"""The playground: the emulated API, workloads as local processes, a real Envoy mesh and the controller."""
