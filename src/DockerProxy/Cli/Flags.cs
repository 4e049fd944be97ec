namespace DockerProxy.Cli;

/// <summary>
/// The flag surface. The first eight are the original's (moby cmd/docker-proxy/main_linux.go,
/// parseFlags), with its defaults; the rest are ours and can also be set by environment,
/// because dockerd passes its environment to the proxy but offers no way to add flags.
/// </summary>
internal static class Flags
{
    internal const string Proto = "proto";
    internal const string HostIp = "host-ip";
    internal const string HostPort = "host-port";
    internal const string ContainerIp = "container-ip";
    internal const string ContainerPort = "container-port";
    internal const string UseListenFd = "use-listen-fd";
    internal const string Version = "version";
    internal const string VersionShort = "v";
    internal const string LogLevel = "log-level";
    internal const string LogFormat = "log-format";
    internal const string UdpTimeout = "udp-timeout";
    internal const string UdpMaxSessions = "udp-max-sessions";
    internal const string UdpBusyPoll = "udp-busy-poll";
    internal const string TcpBusyPoll = "tcp-busy-poll";
    internal const string CopyMode = "copy-mode";
    internal const string ConnectTimeout = "connect-timeout";
    internal const string IdleTimeout = "idle-timeout";
    internal const string MaxConnections = "max-connections";
    internal const string User = "user";
    internal const string DrainTimeout = "drain-timeout";
    internal const string MetricsListen = "metrics-listen";
    internal const string Map = "map";
    internal const string Config = "config";
    internal const string ProxyProtocol = "proxy-protocol";

    internal static readonly FlagSpec[] All =
    [
        new(Proto, FlagKind.String, "proxy protocol: tcp, udp or sctp", "PROTO", "tcp"),
        new(HostIp, FlagKind.Ip, "host ip to listen on", "IP", "0.0.0.0"),
        new(HostPort, FlagKind.Int, "host port to listen on (0: any free port)", "PORT", "-1"),
        new(ContainerIp, FlagKind.Ip, "container ip to relay to (required)", "IP"),
        new(ContainerPort, FlagKind.Int, "container port to relay to, 1-65535 (required)", "PORT", "-1"),
        new(UseListenFd, FlagKind.Bool, "use the listening socket passed as fd 4 instead of binding"),
        new(VersionShort, FlagKind.Bool, "print version information and quit"),
        new(Version, FlagKind.Bool, "print version information and quit"),
        new(LogLevel, FlagKind.String, "log level: debug, info, warn or error", "LEVEL", "info", "DOCKER_PROXY_LOG_LEVEL"),
        new(LogFormat, FlagKind.String, "log format on stderr: text or json", "FORMAT", "text", "DOCKER_PROXY_LOG_FORMAT"),
        new(ConnectTimeout, FlagKind.Duration, "TCP: give up dialling the container after this long (Go duration; default: no limit)", "DURATION", null, "DOCKER_PROXY_CONNECT_TIMEOUT"),
        new(IdleTimeout, FlagKind.Duration, "TCP: close a connection with no traffic either way for this long (default: never)", "DURATION", null, "DOCKER_PROXY_IDLE_TIMEOUT"),
        new(MaxConnections, FlagKind.Int, "TCP: most connections at once; beyond it new clients are closed at once (default: unlimited)", "N", null, "DOCKER_PROXY_MAX_CONNECTIONS"),
        new(User, FlagKind.String, "once listening, drop to this user and its group, with no capabilities", "NAME", null, "DOCKER_PROXY_USER"),
        new(UdpTimeout, FlagKind.Duration, "UDP: close a session idle this long either way (Go duration: 30s, 5m)", "DURATION", "90s", "DOCKER_PROXY_UDP_TIMEOUT"),
        new(CopyMode, FlagKind.String, "TCP: how bytes are copied: splice (zero copy) or pipelines", "MODE", "splice", "DOCKER_PROXY_COPY_MODE"),
        new(TcpBusyPoll, FlagKind.Duration, "TCP (splice mode): after traffic, poll the connections this long before sleeping (more throughput for some CPU; 0: off; at most 1ms)", "DURATION", "50us", "DOCKER_PROXY_TCP_BUSY_POLL"),
        new(UdpMaxSessions, FlagKind.Int, "UDP: most sessions at once; a new client beyond evicts the least recently used", "N", "65536", "DOCKER_PROXY_UDP_MAX_SESSIONS"),
        new(UdpBusyPoll, FlagKind.Duration, "UDP: after traffic, poll the sockets this long before sleeping (lower latency for some CPU; 0: off; at most 1ms)", "DURATION", "50us", "DOCKER_PROXY_UDP_BUSY_POLL"),
        new(DrainTimeout, FlagKind.Duration, "on SIGINT/SIGTERM stop accepting and let open TCP connections finish for up to this long (default: cut them at once)", "DURATION", null, "DOCKER_PROXY_DRAIN_TIMEOUT"),
        new(MetricsListen, FlagKind.String, "serve Prometheus metrics on http://ADDR:PORT/metrics (default: off)", "ADDR:PORT", null, "DOCKER_PROXY_METRICS_LISTEN"),
        new(Map, FlagKind.StringList, "one more mapping PROTO:HOST_IP:HOST_PORT[-END]:CONTAINER_IP:CONTAINER_PORT[-END] (repeatable; IPv6 in brackets; instead of -proto/-host-*/-container-*)", "MAPPING"),
        new(Config, FlagKind.String, "read mappings from this file, one per line (# comments); SIGHUP re-reads it", "FILE"),
        new(ProxyProtocol, FlagKind.String, "TCP: send the client's address to the container first, as a PROXY protocol header: v1 (text) or v2 (binary)", "VERSION", null, "DOCKER_PROXY_PROXY_PROTOCOL"),
    ];

    internal static FlagSpec? Find(string name)
    {
        foreach (FlagSpec spec in All)
        {
            if (spec.Name == name)
            {
                return spec;
            }
        }

        return null;
    }
}
