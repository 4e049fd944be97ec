using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace DockerProxy.EngineTests.Support;

/// <summary>
/// One private Docker engine (build/engines/engine.sh run): its own containerd and dockerd, bridge,
/// mount namespace and state directory under the temporary folder, with a given docker-proxy as
/// --userland-proxy-path. The engine stops itself when this process dies (engine.sh's guard).
/// </summary>
internal sealed class Engine : IAsyncDisposable
{
    private readonly Process _runner;
    private Dictionary<string, string> _env;
    private int _stopped;

    private Engine(Process runner, Dictionary<string, string> env, string version, ProxyKind kind)
    {
        _runner = runner;
        _env = env;
        Version = version;
        Kind = kind;
    }

    internal string Version { get; }

    internal ProxyKind Kind { get; }

    /// <summary>dockerd 28+ hands the proxy a bound socket on fd 4 (-use-listen-fd).</summary>
    internal bool PassesListenFd => !Version.StartsWith("20.", StringComparison.Ordinal);

    internal string StateDir => _env["STATE_DIR"];

    /// <summary>The --userland-proxy-path dockerd runs: a copy of <see cref="ProxySource"/> in the state directory.</summary>
    internal string ProxyPath => _env["PROXY_PATH"];

    internal string ProxySource => _env["PROXY_SOURCE"];

    internal string ServerVersion => _env.GetValueOrDefault("SERVER_VERSION", "?");

    internal string Bridge => _env["BRIDGE"];

    /// <summary>dockerd's --cgroup-parent, e.g. /dpe-ao1234ab.</summary>
    internal string CgroupParent => _env["CGROUP_PARENT"];

    internal string Image => _env["IMAGE"];

    internal int DockerdPid => int.Parse(_env["DOCKERD_PID"], CultureInfo.InvariantCulture);

    internal int SupervisorPid => int.TryParse(_env.GetValueOrDefault("SUPERVISOR_PID"), CultureInfo.InvariantCulture, out int pid) ? pid : 0;

    /// <summary>Starts an engine and waits until dockerd answers and the test image is imported.</summary>
    internal static async Task<Engine> StartAsync(string name, string version, ProxyKind kind)
    {
        DirectoryInfo state = Directory.CreateTempSubdirectory("dpe-");
        var info = new ProcessStartInfo("/bin/bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string arg in new[]
                 {
                     Paths.EngineScript, "run", name, version, Paths.Proxy(kind, version), state.FullName,
                     Environment.ProcessId.ToString(CultureInfo.InvariantCulture),
                 })
        {
            info.ArgumentList.Add(arg);
        }

        var runner = Process.Start(info) ?? throw new InvalidOperationException("could not start engine.sh");
        runner.StandardInput.Close();
        var errors = new StringBuilder();
        runner.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (errors)
                {
                    errors.AppendLine(e.Data);
                }
            }
        };
        runner.BeginErrorReadLine();

        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(150));
        try
        {
            while (true)
            {
                string? line = await runner.StandardOutput.ReadLineAsync(cts.Token);
                if (line is null)
                {
                    await runner.WaitForExitAsync(cts.Token);
                    await StopScriptAsync(state.FullName); // whatever it had set up already
                    throw new InvalidOperationException($"engine {name} ({version}, {kind}) did not start: engine.sh exited with {runner.ExitCode}: {Text(errors)}");
                }

                if (line == "READY")
                {
                    break;
                }

                int eq = line.IndexOf('=', StringComparison.Ordinal);
                if (eq > 0)
                {
                    env[line[..eq]] = line[(eq + 1)..];
                }
            }
        }
        catch (OperationCanceledException)
        {
            await StopScriptAsync(state.FullName);
            runner.Kill(entireProcessTree: true);
            throw new TimeoutException($"engine {name} ({version}, {kind}) did not start within 150 s: {Text(errors)}");
        }

        // Drain stdout from now on: the runner writes nothing more, but must never block on a full pipe.
        _ = runner.StandardOutput.ReadToEndAsync();
        return new Engine(runner, env, version, kind);
    }

    /// <summary>Runs the engine's docker client (Debian's /usr/bin/docker, never a newer one on PATH).</summary>
    internal Task<CommandResult> DockerAsync(params string[] args) => DockerAsync(TimeSpan.FromSeconds(60), args);

    internal Task<CommandResult> DockerAsync(TimeSpan timeout, params string[] args) =>
        Command.RunAsync("/usr/bin/docker", args,
            new Dictionary<string, string> { ["DOCKER_HOST"] = _env["DOCKER_HOST"], ["DOCKER_CONFIG"] = _env["DOCKER_CONFIG"] },
            timeout);

    /// <summary>docker with a zero exit expected; returns trimmed stdout.</summary>
    internal async Task<string> DockerOkAsync(params string[] args)
    {
        CommandResult result = await DockerAsync(args);
        result.ExitCode.Should().Be(0, $"docker {string.Join(' ', args)} should succeed ({result})");
        return result.Stdout.Trim();
    }

    /// <summary>After dockerd died: starts it again in the same engine and waits until it answers.</summary>
    internal async Task RestartDockerdAsync()
    {
        CommandResult result = await Command.RunAsync("/bin/bash", [Paths.EngineScript, "restart", StateDir], timeout: TimeSpan.FromSeconds(150));
        result.ExitCode.Should().Be(0, $"engine.sh restart should bring dockerd back ({result})");
        var env = new Dictionary<string, string>(_env, StringComparer.Ordinal);
        foreach (string line in result.Stdout.Split('\n'))
        {
            int eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                env[line[..eq]] = line[(eq + 1)..];
            }
        }

        _env = env;
    }

    /// <summary>The last lines of dockerd's log, for failure messages.</summary>
    internal string DockerdLogTail(int lines = 15)
    {
        try
        {
            string[] all = File.ReadAllLines(Path.Combine(StateDir, "dockerd.log"));
            return string.Join('\n', all.TakeLast(lines));
        }
        catch (IOException)
        {
            return "(no dockerd.log)";
        }
    }

    /// <summary>Stops the engine and removes everything of it (idempotent).</summary>
    internal async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        await StopScriptAsync(StateDir);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try
        {
            await _runner.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            _runner.Kill(entireProcessTree: true);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _runner.Dispose();
    }

    /// <summary>Stops state directories left by runs whose test process is gone (interrupted runs;
    /// engines started by hand, without an owner, are left alone).</summary>
    internal static async Task SweepStaleAsync()
    {
        foreach (string dir in Directory.EnumerateDirectories(Path.GetTempPath(), "dpe-*"))
        {
            string ownerFile = Path.Combine(dir, "owner");
            if (!File.Exists(ownerFile) ||
                !int.TryParse(File.ReadAllText(ownerFile).Trim(), CultureInfo.InvariantCulture, out int owner) ||
                owner <= 0 || owner == Environment.ProcessId || ProcFs.IsAlive(owner))
            {
                continue;
            }

            await StopScriptAsync(dir);
        }
    }

    private static async Task StopScriptAsync(string state)
    {
        CommandResult result = await Command.RunAsync("/bin/bash", [Paths.EngineScript, "stop", state], timeout: TimeSpan.FromSeconds(90));
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"engine.sh stop {state} failed: {result}");
        }
    }

    private static string Text(StringBuilder errors)
    {
        lock (errors)
        {
            return errors.ToString().Trim();
        }
    }
}
