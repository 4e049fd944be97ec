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

    // Clock ticks (1/100 s) an idle proxy may use in the quiet second: a loop still polling would
    // use about 100.
    private const int IdleTicks = 10;

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

        // Asleep, not polling: the loop's thread is seen blocked in epoll_wait(2) in several
        // readings in a row (a polling loop runs, or passes through sched_yield), within a bound.
        (await LoopThreads.SleepsInEpollAsync(proxy.Pid, "udp-loop")).Should().BeTrue("after the traffic the event loop sleeps in epoll_wait (-udp-busy-poll {0})", busyPoll);
        long before = LoopThreads.CpuTicks(proxy.Pid);
        await Task.Delay(TimeSpan.FromSeconds(1));
        long used = LoopThreads.CpuTicks(proxy.Pid) - before;
        used.Should().BeLessThan(IdleTicks, "and stays asleep: a loop still polling would use a whole core (-udp-busy-poll {0})", busyPoll);
    }
}
