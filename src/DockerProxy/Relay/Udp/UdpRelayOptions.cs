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

    /// <summary>
    /// How long the event loop keeps polling after traffic before it sleeps in epoll_wait. A reply
    /// that comes within it is relayed without a wake-up of a sleeping thread, which on this kind
    /// of machine costs more than the poll (docs/performance.md): 1 client's request rate about
    /// doubles. The poll yields the CPU to any other runnable thread between its checks, and backs
    /// off while it finds nothing, so sparse traffic does not pay for it.
    /// </summary>
    internal static readonly TimeSpan DefaultBusyPoll = TimeSpan.FromTicks(50 * TimeSpan.TicksPerMicrosecond);

    /// <summary>The longest busy poll accepted.</summary>
    internal static readonly TimeSpan MaxBusyPoll = TimeSpan.FromMilliseconds(1);
}
