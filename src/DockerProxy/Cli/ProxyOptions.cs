using System.Net;
using DockerProxy.Relay.Tcp;
using DockerProxy.Relay.Udp;
using Microsoft.Extensions.Logging;

namespace DockerProxy.Cli;

/// <summary>Everything one proxy process needs to know, validated. The positional part is the
/// original's; the properties are our options, each with the default the original behaves as.</summary>
/// <param name="Proto">tcp, udp or sctp.</param>
/// <param name="Host">Where to listen; port 0 lets the kernel choose.</param>
/// <param name="Container">Where to relay to.</param>
/// <param name="UseListenFd">Take the listener from fd 4 instead of binding (newer engines).</param>
internal sealed record ProxyOptions(string Proto, IPEndPoint Host, IPEndPoint Container, bool UseListenFd)
{
    /// <summary>Least level written.</summary>
    public LogLevel LogLevel { get; init; } = LogLevel.Information;

    /// <summary>Text or JSON lines.</summary>
    public LogFormat LogFormat { get; init; } = LogFormat.Text;

    /// <summary>UDP: a session idle this long either way is closed.</summary>
    public TimeSpan UdpTimeout { get; init; } = UdpRelayOptions.DefaultIdleTimeout;

    /// <summary>UDP: the session table's bound.</summary>
    public int UdpMaxSessions { get; init; } = UdpRelayOptions.DefaultMaxSessions;

    /// <summary>How long the UDP event loop polls after traffic before it sleeps (zero: never).</summary>
    public TimeSpan UdpBusyPoll { get; init; } = UdpRelayOptions.DefaultBusyPoll;

    /// <summary>How long the TCP event loop (splice mode) polls after traffic before it sleeps (zero: never).</summary>
    public TimeSpan TcpBusyPoll { get; init; } = TcpRelayOptions.DefaultBusyPoll;

    /// <summary>TCP: splice or Pipelines.</summary>
    public CopyMode CopyMode { get; init; } = TcpRelayOptions.Default.CopyMode;

    /// <summary>TCP: how long a backend dial may take; null: no limit (the original's behaviour).</summary>
    public TimeSpan? ConnectTimeout { get; init; }

    /// <summary>TCP: close a connection with no traffic either way for this long; null: never.</summary>
    public TimeSpan? IdleTimeout { get; init; }

    /// <summary>TCP: most connections at once; null: unlimited.</summary>
    public int? MaxConnections { get; init; }

    /// <summary>Drop to this user (and its group) once listening; null: keep the caller's.</summary>
    public string? User { get; init; }

    /// <summary>On SIGINT/SIGTERM, how long open TCP connections may go on; null: cut at once (the original's behaviour).</summary>
    public TimeSpan? DrainTimeout { get; init; }

    /// <summary>Where to serve Prometheus metrics; null: nowhere.</summary>
    public IPEndPoint? MetricsListen { get; init; }

    /// <summary>The inherited listener's fd: 4 from dockerd (-use-listen-fd), 3 under socket activation.</summary>
    public int ListenFd { get; init; } = 4;

    /// <summary>TCP: the PROXY protocol header sent to the backend first; None: none (the original's behaviour).</summary>
    public ProxyProtocolVersion ProxyProtocol { get; init; }

    /// <summary>Many mappings (-map, -config) instead of the one of the positional part, which is
    /// then unused; null: the classic single mapping.</summary>
    public MappingSource? Mappings { get; init; }

    /// <summary>The TCP relay's part of these options.</summary>
    internal TcpRelayOptions Tcp => new(CopyMode) { ConnectTimeout = ConnectTimeout, IdleTimeout = IdleTimeout, MaxConnections = MaxConnections, ProxyProtocol = ProxyProtocol };
}
