namespace DockerProxy.Relay.Tcp;

/// <summary>How a TCP relay copies, and its opt-in limits (none by default, as the original).</summary>
/// <param name="CopyMode">splice (zero copy) or Pipelines.</param>
internal sealed record TcpRelayOptions(CopyMode CopyMode)
{
    /// <summary>After traffic, how long the TCP event loop polls before it sleeps (splice mode).</summary>
    internal static readonly TimeSpan DefaultBusyPoll = TimeSpan.FromTicks(50 * TimeSpan.TicksPerMicrosecond);

    /// <summary>The longest busy poll accepted: beyond it, polling costs more than a wake-up saves.</summary>
    internal static readonly TimeSpan MaxBusyPoll = TimeSpan.FromMilliseconds(1);

    /// <summary>The defaults: splice, which the side-by-side benchmark measured fastest (docs/performance.md).</summary>
    internal static TcpRelayOptions Default { get; } = new(CopyMode.Splice);

    /// <summary>How long a backend dial may take; null: as long as the kernel tries.</summary>
    public TimeSpan? ConnectTimeout { get; init; }

    /// <summary>Close a connection with no traffic either way for this long; null: never.</summary>
    public TimeSpan? IdleTimeout { get; init; }

    /// <summary>Most connections at once; beyond it new clients are closed at once. null: unlimited.</summary>
    public int? MaxConnections { get; init; }

    /// <summary>A PROXY protocol header to send to the backend before any relayed byte; None: no header.</summary>
    public ProxyProtocolVersion ProxyProtocol { get; init; }
}
