namespace DockerProxy.Relay.Udp;

/// <summary>Limits of a UDP relay.</summary>
/// <param name="IdleTimeout">A session with no datagram either way for this long is closed.</param>
/// <param name="MaxSessions">The table's bound; a new client beyond it evicts the least recently used.</param>
internal sealed record UdpRelayOptions(TimeSpan IdleTimeout, int MaxSessions)
{
    /// <summary>90 s: the original's UDP conntrack timeout (moby cmd/docker-proxy/udp_proxy_linux.go).</summary>
    internal static readonly TimeSpan DefaultIdleTimeout = TimeSpan.FromSeconds(90);

    /// <summary>Enough for any real client population; bounds memory under a flood of source addresses.</summary>
    internal const int DefaultMaxSessions = 65536;
}
