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
        (await SleepsInEpollAsync(proxy.Pid)).Should().BeTrue("after the traffic the event loop sleeps in epoll_wait (-udp-busy-poll {0})", busyPoll);
        long before = CpuTicks(proxy.Pid);
        await Task.Delay(TimeSpan.FromSeconds(1));
        long used = CpuTicks(proxy.Pid) - before;
        used.Should().BeLessThan(IdleTicks, "and stays asleep: a loop still polling would use a whole core (-udp-busy-poll {0})", busyPoll);
    }

    // Whether the thread named udp-loop is in state S with its wait channel in epoll, five readings
    // 50 ms apart in a row (10 s at most).
    private static async Task<bool> SleepsInEpollAsync(int pid)
    {
        string? task = Directory.GetDirectories($"/proc/{pid}/task")
            .FirstOrDefault(t => File.ReadAllText(Path.Combine(t, "comm")).Trim() == "udp-loop");
        task.Should().NotBeNull("the UDP event loop runs on a thread named udp-loop");
        int inARow = 0;
        for (int i = 0; i < 200 && inARow < 5; i++)
        {
            string stat = File.ReadAllText(Path.Combine(task!, "stat"));
            char state = stat[stat.LastIndexOf(')') + 2];
            string wchan = File.ReadAllText(Path.Combine(task!, "wchan"));
            inARow = state == 'S' && wchan.Contains("epoll", StringComparison.Ordinal) ? inARow + 1 : 0;
            await Task.Delay(50);
        }

        return inARow >= 5;
    }

    // utime + stime of the process, in clock ticks (/proc/PID/stat fields 14 and 15).
    private static long CpuTicks(int pid)
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    }
}
