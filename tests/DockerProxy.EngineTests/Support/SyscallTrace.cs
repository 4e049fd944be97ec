using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace DockerProxy.EngineTests.Support;

/// <summary>
/// strace attached to running processes (dockerd, with -f also every process it starts meanwhile;
/// or some proxies), recording bind, execve, dup2/dup3, write and exit_group with socket and pipe
/// inodes (-yy), signals and exit statuses. It shows what /proc cannot: who bound a host port
/// (dockerd 28.x, then handed over on fd 4, or the proxy itself on 20.10), the bytes a proxy wrote
/// to its status pipe on fd 3, the signal that ended a proxy and its exit status.
/// </summary>
internal sealed partial class SyscallTrace : IAsyncDisposable
{
    private readonly Process _strace;
    private readonly string _file;
    private readonly Dictionary<int, int> _owners = [];

    private SyscallTrace(Process strace, string file)
    {
        _strace = strace;
        _file = file;
    }

    /// <summary>Attaches to every thread of the pids (-f: also to what they start meanwhile) and returns once all are traced.</summary>
    internal static async Task<SyscallTrace> AttachAsync(IReadOnlyCollection<int> pids, string directory)
    {
        string file = Path.Combine(directory, $"strace-{Environment.TickCount64}-{Random.Shared.Next()}.txt");
        var info = new ProcessStartInfo("strace")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        var args = new List<string> { "-f", "-q", "-yy", "-s", "512", "-e", "trace=bind,execve,dup2,dup3,write,exit_group,clone,clone3", "-e", "signal=SIGINT,SIGTERM", "-o", file };

        foreach (int pid in pids)
        {
            args.Add("-p");
            args.Add(pid.ToString(CultureInfo.InvariantCulture));
        }

        foreach (string arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        var strace = Process.Start(info) ?? throw new InvalidOperationException("could not start strace");
        _ = strace.StandardOutput.ReadToEndAsync();
        _ = strace.StandardError.ReadToEndAsync();
        var trace = new SyscallTrace(strace, file);
        var clock = Stopwatch.StartNew();
        while (!pids.All(trace.AllThreadsTraced))
        {
            if (strace.HasExited || clock.Elapsed > TimeSpan.FromSeconds(10))
            {
                await trace.DisposeAsync();
                throw new InvalidOperationException($"strace could not attach to {string.Join(", ", pids)} within 10 s");
            }

            await Task.Delay(20);
        }

        foreach (int pid in pids)
        {
            foreach (int tid in ProcFs.Threads(pid))
            {
                trace._owners[tid] = pid;
            }
        }

        return trace;
    }

    /// <summary>Detaches (SIGINT to strace) and returns what it saw.</summary>
    internal async Task<Trace> StopAsync()
    {
        await DetachAsync();
        return new Trace(File.Exists(_file) ? await File.ReadAllTextAsync(_file) : "", _owners);
    }

    /// <summary>Waits (bounded) until strace has ended by itself (all tracees exited), then returns what it saw.</summary>
    internal async Task<Trace> WaitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _strace.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
        }

        return await StopAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await DetachAsync();
        _strace.Dispose();
        File.Delete(_file);
    }

    private async Task DetachAsync()
    {
        if (_strace.HasExited)
        {
            return;
        }

        _ = Posix.Kill(_strace.Id, Posix.SigInt);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await _strace.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            _strace.Kill();
            await _strace.WaitForExitAsync();
        }
    }

    private bool AllThreadsTraced(int pid)
    {
        HashSet<int> threads = ProcFs.Threads(pid);
        if (threads.Count == 0)
        {
            return false;
        }

        foreach (int tid in threads)
        {
            try
            {
                string? tracer = File.ReadLines($"/proc/{pid}/task/{tid}/status")
                    .FirstOrDefault(l => l.StartsWith("TracerPid:", StringComparison.Ordinal));
                if (tracer is null || int.Parse(tracer[10..].Trim(), CultureInfo.InvariantCulture) != _strace.Id)
                {
                    return false;
                }
            }
            catch (IOException)
            {
                // The thread ended meanwhile.
            }
        }

        return true;
    }

    /// <summary>What a trace shows, parsed.</summary>
    internal sealed partial class Trace
    {
        private readonly Dictionary<int, int> _owners;

        internal Trace(string text, Dictionary<int, int> owners)
        {
            Text = text;
            _owners = new Dictionary<int, int>(owners);
            foreach (string raw in text.Split('\n'))
            {
                string line = raw.TrimEnd();
                Match m;
                if ((m = BindLine().Match(line)).Success)
                {
                    Binds.Add(new Bind(Int(m, "tid"), Int(m, "fd"), long.Parse(m.Groups["inode"].Value, CultureInfo.InvariantCulture), Int(m, "port"), line));
                }
                else if ((m = ExecLine().Match(line)).Success)
                {
                    Execs[Int(m, "tid")] = [.. StringLiteral().Matches(m.Groups["argv"].Value).Select(s => Unescape(s.Groups[1].Value))];
                }
                else if ((m = DupStatusLine().Match(line)).Success)
                {
                    StatusPipes[Int(m, "tid")] = long.Parse(m.Groups["pipe"].Value, CultureInfo.InvariantCulture);
                }
                else if ((m = DupListenLine().Match(line)).Success)
                {
                    ListenFds[Int(m, "tid")] = (Int(m, "fd"), m.Groups["addr"].Value);
                }
                else if ((m = WriteLine().Match(line)).Success)
                {
                    long pipe = long.Parse(m.Groups["pipe"].Value, CultureInfo.InvariantCulture);
                    PipeWrites[pipe] = [.. PipeWrites.GetValueOrDefault(pipe, []), .. Unescape(m.Groups["data"].Value).Select(c => (byte)c)];
                }
                else if ((m = ExitLine().Match(line)).Success)
                {
                    Exits[Int(m, "tid")] = m.Groups["what"].Value;
                }
                else if ((m = CloneLine().Match(line)).Success)
                {
                    // A thread (or, from dockerd, a process) started by an attached one.
                    int parent = Int(m, "tid");
                    _owners[Int(m, "child")] = _owners.GetValueOrDefault(parent, parent);
                }
                else if ((m = SignalLine().Match(line)).Success)
                {
                    int tid = Int(m, "tid");
                    Signals[tid] = [.. Signals.GetValueOrDefault(tid, []), m.Groups["sig"].Value];
                }
            }
        }

        internal string Text { get; }

        /// <summary>bind() calls: thread, socket inode, port.</summary>
        internal List<Bind> Binds { get; } = [];

        /// <summary>Processes that called execve, with their argv.</summary>
        internal Dictionary<int, string[]> Execs { get; } = [];

        /// <summary>Per started process, the pipe its parent-side code put on fd 3 before execve.</summary>
        internal Dictionary<int, long> StatusPipes { get; } = [];

        /// <summary>Per started process, the socket its parent-side code put on fd 4 before execve: the
        /// parent's fd number and the socket's address as strace shows it ("127.0.0.1:80", "[::1]:80").</summary>
        internal Dictionary<int, (int Fd, string Address)> ListenFds { get; } = [];

        /// <summary>Everything written into each pipe.</summary>
        internal Dictionary<long, byte[]> PipeWrites { get; } = [];

        /// <summary>How each thread or process ended: "exited with N" or "killed by SIGX".</summary>
        internal Dictionary<int, string> Exits { get; } = [];

        /// <summary>SIGINT/SIGTERM delivered, per thread or process.</summary>
        internal Dictionary<int, List<string>> Signals { get; } = [];

        /// <summary>SIGINT/SIGTERM delivered to any thread of an attached process (its threads at the attach
        /// and those it started meanwhile).</summary>
        internal List<string> SignalsOf(int pid) =>
            Signals.Where(s => s.Key == pid || _owners.GetValueOrDefault(s.Key) == pid).SelectMany(s => s.Value).ToList();

        /// <summary>The processes that executed path, by pid.</summary>
        internal IEnumerable<int> ExecsOf(string path) => Execs.Where(e => e.Value.Length > 0 && e.Value[0] == path).Select(e => e.Key);

        /// <summary>The bytes process pid wrote to its status pipe (fd 3), or null without one.</summary>
        internal byte[]? StatusOf(int pid) =>
            StatusPipes.TryGetValue(pid, out long pipe) ? PipeWrites.GetValueOrDefault(pipe, []) : null;

        internal static string Show(byte[]? bytes) => bytes is null ? "(no status pipe)" : JsonQuote(Encoding.UTF8.GetString(bytes));

        private static string JsonQuote(string s) => System.Text.Json.JsonSerializer.Serialize(s);

        private static int Int(Match m, string group) => int.Parse(m.Groups[group].Value, CultureInfo.InvariantCulture);

        /// <summary>strace's C-style string escapes back to characters (bytes 0-255).</summary>
        private static string Unescape(string s)
        {
            var text = new StringBuilder();
            for (int i = 0; i < s.Length; i++)
            {
                if (s[i] != '\\' || i + 1 == s.Length)
                {
                    text.Append(s[i]);
                    continue;
                }

                char c = s[++i];
                switch (c)
                {
                    case 'n': text.Append('\n'); break;
                    case 't': text.Append('\t'); break;
                    case 'r': text.Append('\r'); break;
                    case 'v': text.Append('\v'); break;
                    case 'f': text.Append('\f'); break;
                    case 'x':
                        text.Append((char)Convert.ToInt32(s.Substring(i + 1, 2), 16));
                        i += 2;
                        break;
                    case >= '0' and <= '7':
                        int end = i;
                        while (end < s.Length && end < i + 3 && s[end] is >= '0' and <= '7')
                        {
                            end++;
                        }

                        text.Append((char)Convert.ToInt32(s[i..end], 8));
                        i = end - 1;
                        break;
                    default: text.Append(c); break;
                }
            }

            return text.ToString();
        }

        // "1234 bind(29<TCP:[783835]>, {sa_family=AF_INET, sin_port=htons(18110), ..." (IPv6: TCPv6, sin6_port)
        [GeneratedRegex(@"^(?<tid>\d+)\s+bind\((?<fd>\d+)<(?:TCP|UDP)(?:v6)?:\[(?<inode>\d+)\]>,\s*\{sa_family=AF_INET6?,\s*sin6?_port=htons\((?<port>\d+)\)")]
        private static partial Regex BindLine();

        // "1234 execve("/path", ["/path", "-proto", "tcp"], 0x... /* 9 vars */) = 0"
        [GeneratedRegex(@"^(?<tid>\d+)\s+execve\(""(?:[^""\\]|\\.)*"", \[(?<argv>.*?)\](?:, 0x| <unfinished)")]
        private static partial Regex ExecLine();

        [GeneratedRegex(@"""((?:[^""\\]|\\.)*)""")]
        private static partial Regex StringLiteral();

        // "1234 dup3(31<pipe:[555]>, 3<...>, 0) = 3<pipe:[555]>" in the child between fork and execve
        [GeneratedRegex(@"^(?<tid>\d+)\s+dup[23]\(\d+<pipe:\[(?<pipe>\d+)\]>, 3\b")]
        private static partial Regex DupStatusLine();

        // "1234 dup3(29<TCP:[127.0.0.1:18110]>, 4<anon_inode:[eventpoll]>, 0) = 4<...>" (IPv6: TCPv6:[[::1]:80])
        [GeneratedRegex(@"^(?<tid>\d+)\s+dup[23]\((?<fd>\d+)<(?:TCP|UDP)(?:v6)?:\[(?<addr>.*?)\]>, 4\b")]
        private static partial Regex DupListenLine();

        // "1234 write(3<pipe:[555]>, "0\n", 2) = 2"
        [GeneratedRegex(@"^(?<tid>\d+)\s+write\(\d+<pipe:\[(?<pipe>\d+)\]>, ""(?<data>(?:[^""\\]|\\.)*)""")]
        private static partial Regex WriteLine();

        // "1234 +++ exited with 0 +++" / "1234 +++ killed by SIGKILL +++"
        [GeneratedRegex(@"^(?<tid>\d+)\s+\+\+\+ (?<what>exited with \d+|killed by \w+)")]
        private static partial Regex ExitLine();

        // "1234 clone3({flags=CLONE_VM|...|CLONE_THREAD|..., ...}, 88) = 1240" (or split: "1234 <... clone3 resumed> ...) = 1240")
        [GeneratedRegex(@"^(?<tid>\d+)\s+(?:clone3?\(|<\.\.\. clone3? resumed>).*\)\s+=\s+(?<child>\d+)$")]
        private static partial Regex CloneLine();

        // "1234 --- SIGINT {si_signo=SIGINT, ...} ---"
        [GeneratedRegex(@"^(?<tid>\d+)\s+--- (?<sig>SIG\w+) ")]
        private static partial Regex SignalLine();
    }

    /// <summary>A bind() seen in the trace: thread id, fd, socket inode, port.</summary>
    internal readonly record struct Bind(int Tid, int Fd, long Inode, int Port, string Line);
}
