using System.Runtime.InteropServices;
using System.Text;

namespace DockerProxy.Tests.Support;

/// <summary>
/// A proxy binary started the way dockerd starts one: posix_spawn, stdin and stdout on /dev/null,
/// fd 3 the write end of a status pipe, optionally a socket on fd 4, every signal at its default
/// and none blocked. Stderr is captured (dockerd sends it to /dev/null; tests read it) unless
/// <see cref="SpawnOptions.StderrToDevNull"/>. Disposing kills the process if it still runs.
/// </summary>
internal sealed class SpawnedProcess : IAsyncDisposable
{
    private readonly int _statusFd;
    private readonly int _stderrFd;
    private readonly Task<string> _stderr;
    private readonly List<byte> _stderrSoFar = [];
    private readonly int _stdoutFd;
    private readonly Task<string> _stdout;
    private int? _exit;

    private SpawnedProcess(int pid, int statusFd, int stderrFd, int stdoutFd)
    {
        Pid = pid;
        _statusFd = statusFd;
        _stderrFd = stderrFd;
        _stdoutFd = stdoutFd;
        _stderr = stderrFd >= 0 ? OnOwnThread(() => ReadAll(stderrFd, _stderrSoFar)) : Task.FromResult(string.Empty);
        _stdout = stdoutFd >= 0 ? OnOwnThread(() => ReadAll(stdoutFd, [])) : Task.FromResult(string.Empty);
    }

    internal int Pid { get; }

    internal static unsafe SpawnedProcess Start(string binary, IEnumerable<string> args, SpawnOptions? options = null)
    {
        options ??= new SpawnOptions();
        (int Read, int Write)? status = options.StatusPipe ? Posix.Pipe() : null;
        (int Read, int Write)? stderr = options.StderrToDevNull ? null : Posix.Pipe();
        (int Read, int Write)? stdout = options.CaptureStdout ? Posix.Pipe() : null;

        byte* actions = stackalloc byte[256];
        byte* attr = stackalloc byte[512];
        byte* sigset = stackalloc byte[128];
        Check(Posix.FileActionsInit(actions), "FileActionsInit");
        Check(Posix.SpawnAttrInit(attr), "SpawnAttrInit");
        var strings = new List<nint>();
        try
        {
            Check(Posix.FileActionsAddOpen(actions, 0, "/dev/null", Posix.ORdOnly, 0), "FileActionsAddOpen");
            if (stdout is { } output)
            {
                Check(Posix.FileActionsAddDup2(actions, output.Write, 1), "FileActionsAddDup2");
            }
            else
            {
                Check(Posix.FileActionsAddOpen(actions, 1, "/dev/null", Posix.OWrOnly, 0), "FileActionsAddOpen");
            }
            if (stderr is { } err)
            {
                Check(Posix.FileActionsAddDup2(actions, err.Write, 2), "FileActionsAddDup2");
            }
            else
            {
                Check(Posix.FileActionsAddOpen(actions, 2, "/dev/null", Posix.OWrOnly, 0), "FileActionsAddOpen");
            }

            if (status is { } st)
            {
                Check(Posix.FileActionsAddDup2(actions, st.Write, 3), "FileActionsAddDup2");
            }

            if (options.ActivationFd is int activationFd)
            {
                Check(Posix.FileActionsAddDup2(actions, activationFd, 3), "FileActionsAddDup2");
            }

            if (options.ListenFd is int listenFd)
            {
                Check(Posix.FileActionsAddDup2(actions, listenFd, 4), "FileActionsAddDup2");
            }

            Check(Posix.SigFillSet(sigset), "SigFillSet");
            Check(Posix.SpawnAttrSetSigDefault(attr, sigset), "SpawnAttrSetSigDefault");
            Check(Posix.SigEmptySet(sigset), "SigEmptySet");
            Check(Posix.SpawnAttrSetSigMask(attr, sigset), "SpawnAttrSetSigMask");
            Check(Posix.SpawnAttrSetFlags(attr, Posix.PosixSpawnSetSigDef | Posix.PosixSpawnSetSigMask), "SpawnAttrSetFlags");

            nint* argv = stackalloc nint[args.Count() + 2];
            int i = 0;
            argv[i++] = Remember(binary, strings);
            foreach (string arg in args)
            {
                argv[i++] = Remember(arg, strings);
            }

            argv[i] = 0;

            var environment = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (System.Collections.DictionaryEntry entry in Environment.GetEnvironmentVariables())
            {
                environment[(string)entry.Key] = (string?)entry.Value ?? string.Empty;
            }

            foreach ((string key, string? value) in options.Environment)
            {
                if (value is null)
                {
                    environment.Remove(key);
                }
                else
                {
                    environment[key] = value;
                }
            }

            nint* envp = stackalloc nint[environment.Count + 1];
            int j = 0;
            foreach ((string key, string value) in environment)
            {
                envp[j++] = Remember($"{key}={value}", strings);
            }

            envp[j] = 0;

            int rc = Posix.Spawn(out int pid, binary, actions, attr, argv, envp);
            if (rc != 0)
            {
                throw new InvalidOperationException($"posix_spawn {binary} failed: errno {rc}");
            }

            return new SpawnedProcess(pid, status?.Read ?? -1, stderr?.Read ?? -1, stdout?.Read ?? -1);
        }
        finally
        {
            _ = Posix.FileActionsDestroy(actions);
            _ = Posix.SpawnAttrDestroy(attr);
            foreach (nint s in strings)
            {
                Marshal.FreeHGlobal(s);
            }

            if (status is { } st)
            {
                _ = Posix.Close(st.Write);
            }

            if (stderr is { } err)
            {
                _ = Posix.Close(err.Write);
            }

            if (stdout is { } output)
            {
                _ = Posix.Close(output.Write);
            }
        }
    }

    /// <summary>Everything written to fd 3 until the proxy closed it (or exited), bounded in time.</summary>
    internal async Task<byte[]> ReadStatusAsync(TimeSpan? timeout = null)
    {
        if (_statusFd < 0)
        {
            throw new InvalidOperationException("started without a status pipe");
        }

        return await OnOwnThread(() => ReadBytes(_statusFd)).WaitAsync(timeout ?? TimeSpan.FromSeconds(10));
    }

    /// <summary>Status text as a string, e.g. "0\n" or "1\nlisten tcp4 ...".</summary>
    internal async Task<string> ReadStatusTextAsync(TimeSpan? timeout = null) =>
        Encoding.UTF8.GetString(await ReadStatusAsync(timeout));

    internal void Signal(int signal) => _ = Posix.Kill(Pid, signal);

    internal bool HasExited => TryReap();

    /// <summary>The exit status (0-255), or 128+N when killed by signal N, as a shell reports it.</summary>
    internal async Task<int> WaitForExitAsync(TimeSpan? timeout = null)
    {
        TimeSpan limit = timeout ?? TimeSpan.FromSeconds(10);
        long start = Environment.TickCount64;
        while (!TryReap())
        {
            if (Environment.TickCount64 - start > limit.TotalMilliseconds)
            {
                throw new TimeoutException($"process {Pid} still running after {limit}");
            }

            await Task.Delay(5);
        }

        return _exit!.Value;
    }

    /// <summary>Stderr as captured until the process exited (waits for exit first).</summary>
    internal async Task<string> StderrAsync(TimeSpan? timeout = null)
    {
        await WaitForExitAsync(timeout);
        return await _stderr.WaitAsync(TimeSpan.FromSeconds(5));
    }

    /// <summary>
    /// Waits, bounded in time (default 10 s), until what the process has written to stderr so far
    /// satisfies done, while it runs; returns that text. On timeout the exception carries it.
    /// </summary>
    internal async Task<string> WaitForStderrAsync(Func<string, bool> done, TimeSpan? timeout = null)
    {
        TimeSpan limit = timeout ?? TimeSpan.FromSeconds(10);
        long start = Environment.TickCount64;
        while (true)
        {
            string text;
            lock (_stderrSoFar)
            {
                text = Encoding.UTF8.GetString([.. _stderrSoFar]);
            }

            if (done(text))
            {
                return text;
            }

            if (Environment.TickCount64 - start > limit.TotalMilliseconds)
            {
                throw new TimeoutException($"process {Pid}: stderr not as expected after {limit}:\n{text}");
            }

            await Task.Delay(10);
        }
    }

    /// <summary>Stdout as captured until the process exited (with <see cref="SpawnOptions.CaptureStdout"/>).</summary>
    internal async Task<string> StdoutAsync(TimeSpan? timeout = null)
    {
        await WaitForExitAsync(timeout);
        return await _stdout.WaitAsync(TimeSpan.FromSeconds(5));
    }

    /// <summary>Sets RLIMIT_NOFILE of the running process (prlimit(2)).</summary>
    internal unsafe void SetOpenFileLimit(long soft, long hard)
    {
        long* limits = stackalloc long[2];
        limits[0] = soft;
        limits[1] = hard;
        if (Posix.PrLimit(Pid, Posix.RLimitNoFile, limits, null) != 0)
        {
            throw new InvalidOperationException($"prlimit failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>Number of open fds of the process (/proc/PID/fd).</summary>
    internal int OpenFdCount() => Directory.GetFileSystemEntries($"/proc/{Pid}/fd").Length;

    /// <summary>Private memory (Private_Clean + Private_Dirty) in KiB from /proc/PID/smaps_rollup.</summary>
    internal long PrivateKib()
    {
        long total = 0;
        foreach (string line in File.ReadLines($"/proc/{Pid}/smaps_rollup"))
        {
            if (line.StartsWith("Private_Clean:", StringComparison.Ordinal) || line.StartsWith("Private_Dirty:", StringComparison.Ordinal))
            {
                total += long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return total;
    }

    public async ValueTask DisposeAsync()
    {
        if (!TryReap())
        {
            _ = Posix.Kill(Pid, Posix.SigKill);
            try
            {
                await WaitForExitAsync(TimeSpan.FromSeconds(5));
            }
            catch (TimeoutException)
            {
                // Nothing more to do; the test already failed or will.
            }
        }

        if (_statusFd >= 0)
        {
            _ = Posix.Close(_statusFd);
        }

        try
        {
            await _stderr.WaitAsync(TimeSpan.FromSeconds(2));
        }
        catch (TimeoutException)
        {
            // A grandchild may hold the pipe; the fd is closed below anyway.
        }

        if (_stderrFd >= 0)
        {
            _ = Posix.Close(_stderrFd);
        }

        if (_stdoutFd >= 0)
        {
            _ = Posix.Close(_stdoutFd);
        }
    }

    private unsafe bool TryReap()
    {
        if (_exit is not null)
        {
            return true;
        }

        int status;
        int rc = Posix.WaitPid(Pid, &status, Posix.WNoHang);
        if (rc != Pid)
        {
            return false;
        }

        int signal = status & 0x7f;
        _exit = signal == 0 ? (status >> 8) & 0xff : 128 + signal;
        return true;
    }

    // Blocking reads get a thread of their own: on a 2-core machine, a few of them on thread-pool
    // threads starve the pool, and every socket continuation of the test then waits for the pool
    // to grow (about half a second a thread).
    private static Task<T> OnOwnThread<T>(Func<T> read) =>
        Task.Factory.StartNew(read, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private static void Check(int rc, string what)
    {
        if (rc != 0)
        {
            throw new InvalidOperationException($"{what} failed: {rc}");
        }
    }

    private static nint Remember(string s, List<nint> strings)
    {
        nint p = Marshal.StringToCoTaskMemUTF8(s);
        strings.Add(p);
        return p;
    }

    private static byte[] ReadBytes(int fd) => ReadBytes(fd, []);

    // Reads fd to its end into result, which others may read meanwhile under its lock.
    private static unsafe byte[] ReadBytes(int fd, List<byte> result)
    {
        byte* buffer = stackalloc byte[4096];
        while (true)
        {
            nint n = Posix.Read(fd, buffer, 4096);
            if (n <= 0)
            {
                if (n < 0 && Marshal.GetLastPInvokeError() == 4)
                {
                    continue; // EINTR
                }

                lock (result)
                {
                    return [.. result];
                }
            }

            lock (result)
            {
                result.AddRange(new ReadOnlySpan<byte>(buffer, (int)n));
            }
        }
    }

    private static string ReadAll(int fd, List<byte> live) => Encoding.UTF8.GetString(ReadBytes(fd, live));
}
