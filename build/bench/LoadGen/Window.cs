using System.Diagnostics;
using System.Globalization;

namespace LoadGen;

/// <summary>
/// The timing of a closed-loop run, driven by the main thread: warm-up, then the timed window,
/// then stop. Workers read <see cref="Phase"/> after every completed request and count only
/// those completed while it is <see cref="Measuring"/>.
/// </summary>
internal sealed class Window
{
    public const int WarmingUp = 0;
    public const int Measuring = 1;
    public const int Stopping = 2;

    private int _phase = WarmingUp;

    public int Phase => Volatile.Read(ref _phase);

    public long StartTimestamp { get; private set; }

    public long EndTimestamp { get; private set; }

    /// <summary>CPU seconds (utime + stime) the watched process used inside the window; null without one.</summary>
    public double? WatchedCpuSeconds { get; private set; }

    /// <summary>CPU seconds the load generator itself used inside the window.</summary>
    public double OwnCpuSeconds { get; private set; }

    public double Seconds => (EndTimestamp - StartTimestamp) / (double)Stopwatch.Frequency;

    /// <summary>Runs the phases on the calling thread; WATCHPID (0: none) is sampled at the window's edges.</summary>
    public void Run(double warmupSeconds, double seconds, int watchPid)
    {
        Thread.Sleep(TimeSpan.FromSeconds(warmupSeconds));
        long cpuStart = watchPid > 0 ? CpuTicks(watchPid) : 0;
        long ownStart = CpuTicks(Environment.ProcessId);
        StartTimestamp = Stopwatch.GetTimestamp();
        Volatile.Write(ref _phase, Measuring);
        Thread.Sleep(TimeSpan.FromSeconds(seconds));
        Volatile.Write(ref _phase, Stopping);
        EndTimestamp = Stopwatch.GetTimestamp();
        OwnCpuSeconds = (CpuTicks(Environment.ProcessId) - ownStart) / 100.0;
        if (watchPid > 0)
        {
            long cpuEnd = CpuTicks(watchPid);
            WatchedCpuSeconds = cpuStart >= 0 && cpuEnd >= 0 ? (cpuEnd - cpuStart) / 100.0 : null;
        }
    }

    /// <summary>utime + stime of PID in clock ticks (USER_HZ, 100 on Linux); -1 if unreadable.</summary>
    private static long CpuTicks(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return -1;
        }
    }

    /// <summary>Nanoseconds between two Stopwatch timestamps.</summary>
    public static long Nanoseconds(long from, long to) => (long)((to - from) * (1e9 / Stopwatch.Frequency));
}

/// <summary>What one worker thread saw; merged by the main thread once all have stopped.</summary>
internal sealed class WorkerResult
{
    private long[] _latencies = new long[4096];

    public long Completed { get; set; }

    public long Lost { get; set; }

    public long Stale { get; set; }

    public long Errors { get; set; }

    public long WrongBytes { get; set; }

    public string? FirstError { get; private set; }

    public int LatencyCount { get; private set; }

    public ReadOnlySpan<long> Latencies => _latencies.AsSpan(0, LatencyCount);

    public void Record(long nanoseconds)
    {
        if (LatencyCount == _latencies.Length)
        {
            Array.Resize(ref _latencies, _latencies.Length * 2);
        }

        _latencies[LatencyCount++] = nanoseconds;
        Completed++;
    }

    public void Fail(string message)
    {
        Errors++;
        FirstError ??= message;
    }
}
