using System.Globalization;

namespace DockerProxy.Tests.Support;

/// <summary>What /proc says of a proxy's event-loop thread (udp-loop, tcp-loop) and of its CPU.</summary>
internal static class LoopThreads
{
    // Clock ticks (1/100 s) an idle proxy may use in a quiet second: a loop still polling would
    // use about 100.
    private const int IdleTicks = 10;

    /// <summary>Asserts that the event loop sleeps: its thread is seen blocked in epoll_wait(2) in
    /// several readings in a row, and the process then uses almost no CPU for a second.</summary>
    internal static async Task ShouldSleepAsync(int pid, string name, string setting)
    {
        (await SleepsInEpollAsync(pid, name)).Should().BeTrue("after the traffic the event loop sleeps in epoll_wait ({0})", setting);
        long before = CpuTicks(pid);
        await Task.Delay(TimeSpan.FromSeconds(1));
        long used = CpuTicks(pid) - before;
        used.Should().BeLessThan(IdleTicks, "and stays asleep: a loop still polling would use a whole core ({0})", setting);
    }

    /// <summary>Whether the thread named <paramref name="name"/> is in state S with its wait channel
    /// in epoll, five readings 50 ms apart in a row (10 s at most). A polling loop runs, or passes
    /// through sched_yield, and is not seen so five times in a row.</summary>
    internal static async Task<bool> SleepsInEpollAsync(int pid, string name)
    {
        string? task = Directory.GetDirectories($"/proc/{pid}/task")
            .FirstOrDefault(t => File.ReadAllText(Path.Combine(t, "comm")).Trim() == name);
        task.Should().NotBeNull("the event loop runs on a thread named {0}", name);
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

    /// <summary>utime + stime of the process, in clock ticks (/proc/PID/stat fields 14 and 15).</summary>
    internal static long CpuTicks(int pid)
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    }
}
