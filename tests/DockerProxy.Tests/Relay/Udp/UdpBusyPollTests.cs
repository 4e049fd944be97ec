using System.Globalization;
using System.Net;
using System.Net.Sockets;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Relay.Udp;

/// <summary>
/// -udp-busy-poll in the published binary: the event loop polls for a while after traffic before
/// it sleeps. Whatever the setting, every datagram is relayed; and once the traffic stops, the
/// loop sleeps: an idle proxy uses no CPU, however long it polled while busy.
/// </summary>
[Trait("Category", "Process")]
public sealed class UdpBusyPollTests
{
    private const int RoundTrips = 2_000;

    private static readonly IPAddress Loopback = IPAddress.Loopback;

    [SkippableTheory]
    [InlineData("0")]
    [InlineData("50us")]
    [InlineData("1ms")]
    public async Task Every_datagram_is_relayed_and_an_idle_proxy_sleeps(string busyPoll)
    {
        Binaries.Path(Binaries.Ours);
        await using UdpEcho backend = UdpEcho.Start(Loopback);
        (SpawnedProcess proxy, IPEndPoint host) = await UdpProxyRun.StartOnFreePortAsync(
            Binaries.Ours, Loopback, backend.EndPoint, extra: ["-udp-busy-poll", busyPoll]);
        await using SpawnedProcess started = proxy;

        using (Socket client = Datagrams.Connect(host))
        {
            for (int i = 0; i < RoundTrips; i++)
            {
                byte[] payload = Datagrams.Text(i.ToString(CultureInfo.InvariantCulture));
                (await Datagrams.RoundTripAsync(client, payload)).Should().Equal(payload, "round trip {0} with -udp-busy-poll {1}", i, busyPoll);
            }
        }

        // Asleep, not polling (a polling loop runs, or passes through sched_yield), within a bound.
        await LoopThreads.ShouldSleepAsync(proxy.Pid, "udp-loop", "-udp-busy-poll " + busyPoll);
    }
}
