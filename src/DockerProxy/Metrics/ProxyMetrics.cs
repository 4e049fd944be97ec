using System.Diagnostics.Metrics;

namespace DockerProxy.Metrics;

/// <summary>
/// The proxy's instruments, on one meter named "DockerProxy" (System.Diagnostics.Metrics), readable
/// by any MeterListener: the -metrics-listen exposition (<see cref="MetricsServer"/>), the SIGUSR1
/// summary, or dotnet-counters in a build with EventSource support. An instrument nobody listens to
/// costs one check of its Enabled flag per Add: the relays call them unconditionally. Bytes of a TCP
/// connection are added when it closes, not per read, to keep the copy loops untouched.
/// </summary>
internal static class ProxyMetrics
{
    internal const string MeterName = "DockerProxy";

    private static readonly Meter s_meter = new(MeterName);

    internal static readonly Counter<long> ConnectionsAccepted = s_meter.CreateCounter<long>(
        "docker_proxy.connections.accepted", "{connection}", "TCP connections accepted, including those then refused by -max-connections");

    internal static readonly UpDownCounter<long> ConnectionsActive = s_meter.CreateUpDownCounter<long>(
        "docker_proxy.connections.active", "{connection}", "TCP connections being relayed now");

    internal static readonly Counter<long> ConnectionsRefused = s_meter.CreateCounter<long>(
        "docker_proxy.connections.refused", "{connection}", "TCP connections closed at once because -max-connections was reached");

    internal static readonly Counter<long> BackendDialFailures = s_meter.CreateCounter<long>(
        "docker_proxy.backend.dial_failures", "{connection}", "TCP dials to the container that failed or timed out");

    internal static readonly Counter<long> BytesToContainer = s_meter.CreateCounter<long>(
        "docker_proxy.bytes.to_container", "By", "bytes relayed from clients to the container (TCP: counted when a connection closes)");

    internal static readonly Counter<long> BytesToClient = s_meter.CreateCounter<long>(
        "docker_proxy.bytes.to_client", "By", "bytes relayed from the container to clients (TCP: counted when a connection closes)");

    internal static readonly UpDownCounter<long> UdpSessionsActive = s_meter.CreateUpDownCounter<long>(
        "docker_proxy.udp.sessions.active", "{session}", "UDP sessions open now");

    internal static readonly Counter<long> UdpSessionsCreated = s_meter.CreateCounter<long>(
        "docker_proxy.udp.sessions.created", "{session}", "UDP sessions opened");

    internal static readonly Counter<long> UdpSessionsEvicted = s_meter.CreateCounter<long>(
        "docker_proxy.udp.sessions.evicted", "{session}", "UDP sessions closed early to make room for a new client");

    /// <summary>Every instrument, in the order the exposition and the summary list them.</summary>
    internal static readonly Instrument[] All =
    [
        ConnectionsAccepted, ConnectionsActive, ConnectionsRefused, BackendDialFailures,
        BytesToContainer, BytesToClient, UdpSessionsActive, UdpSessionsCreated, UdpSessionsEvicted,
    ];
}
