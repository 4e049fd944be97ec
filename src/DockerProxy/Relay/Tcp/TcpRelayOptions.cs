namespace DockerProxy.Relay.Tcp;

/// <summary>How a TCP relay copies, and its opt-in limits (none by default, as the original).</summary>
/// <param name="CopyMode">splice (zero copy) or Pipelines.</param>
internal sealed record TcpRelayOptions(CopyMode CopyMode)
{
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
