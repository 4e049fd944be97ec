using System.Globalization;
using System.Net;
using System.Text.Json;

namespace DockerProxy.EngineTests.Support;

/// <summary>A running test container: id, name, address on the engine's bridge, published ports.</summary>
internal sealed record Container(string Id, string Name, IPAddress Address)
{
    internal IPEndPoint Backend(int port) => new(Address, port);
}

/// <summary>A docker-proxy process: a child of dockerd, its executable and argv.</summary>
internal sealed record ProxyProcess(int Pid, string? Exe, string[] Argv)
{
    internal string Arg(string flag)
    {
        int i = Array.IndexOf(Argv, flag);
        return i >= 0 && i + 1 < Argv.Length ? Argv[i + 1] : "";
    }

    internal string Proto => Arg("-proto");

    internal IPAddress HostIp => IPAddress.Parse(Arg("-host-ip"));

    internal int HostPort => int.Parse(Arg("-host-port"), CultureInfo.InvariantCulture);

    public override string ToString() => $"{Pid}: {string.Join(' ', Argv)} (exe {Exe})";
}

/// <summary>Containers of the test image and the proxies dockerd starts for them.</summary>
internal static class Containers
{
    /// <summary>
    /// docker run -d of the test image (serve.py, with the host's /usr read-only for python3) with
    /// the given -p specs; waits until its servers listen (a connection to port 80 on the bridge).
    /// </summary>
    internal static async Task<Container> RunAsync(Engine engine, string name, IEnumerable<string> publish, params string[] extra)
    {
        var args = new List<string> { "run", "-d", "--name", name, "-v", "/usr:/usr:ro", "--stop-timeout", "2" };
        args.AddRange(extra);
        foreach (string spec in publish)
        {
            args.Add("-p");
            args.Add(spec);
        }

        args.Add(engine.Image);
        CommandResult run = await engine.DockerAsync([.. args]);
        run.ExitCode.Should().Be(0, $"docker {string.Join(' ', args)} should start the container ({run})\n{engine.DockerdLogTail()}");
        string id = run.Stdout.Trim();
        Container container = new(id, name, await AddressAsync(engine, name));
        await Net.WaitListeningAsync(container.Backend(80), TimeSpan.FromSeconds(20));
        return container;
    }

    internal static async Task<IPAddress> AddressAsync(Engine engine, string name)
    {
        string ip = await engine.DockerOkAsync("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name);
        return IPAddress.Parse(ip);
    }

    /// <summary>docker rm -f, ignoring a container that is not there.</summary>
    internal static async Task RemoveAsync(Engine engine, params string[] names)
    {
        if (names.Length > 0)
        {
            await engine.DockerAsync(["rm", "-f", .. names]);
        }
    }

    /// <summary>The host port docker assigned to containerPort/proto on hostIp.</summary>
    internal static async Task<int> HostPortAsync(Engine engine, string name, string portProto, string hostIp, int except = 0)
    {
        string json = await engine.DockerOkAsync("inspect", "-f", "{{json .NetworkSettings.Ports}}", name);
        using JsonDocument doc = JsonDocument.Parse(json);
        foreach (JsonElement binding in doc.RootElement.GetProperty(portProto).EnumerateArray())
        {
            int port = int.Parse(binding.GetProperty("HostPort").GetString()!, CultureInfo.InvariantCulture);
            if (binding.GetProperty("HostIp").GetString() == hostIp && port != except)
            {
                return port;
            }
        }

        throw new InvalidOperationException($"no {portProto} binding on {hostIp} in {json}");
    }

    internal static async Task<bool> IsRunningAsync(Engine engine, string name) =>
        (await engine.DockerAsync("inspect", "-f", "{{.State.Running}}", name)).Stdout.Trim() == "true";

    /// <summary>
    /// The proxies dockerd runs now: its children that are the proxy binary or look like one
    /// (a -container-ip argument), so that a wrong binary shows up rather than hides.
    /// </summary>
    internal static List<ProxyProcess> Proxies(Engine engine) =>
        ProcFs.Children(engine.DockerdPid)
            .Select(pid => new ProxyProcess(pid, ProcFs.Exe(pid), ProcFs.Cmdline(pid) ?? []))
            .Where(p => p.Exe == engine.ProxyPath || p.Argv.Contains("-container-ip"))
            .ToList();

    internal static List<ProxyProcess> ProxiesOf(Engine engine, Container container) =>
        Proxies(engine).Where(p => p.Arg("-container-ip") == container.Address.ToString()).ToList();

    /// <summary>Every process on the host running this engine's proxy binary, whoever its parent.</summary>
    internal static List<ProxyProcess> AllProxyProcesses(Engine engine) =>
        ProcFs.All()
            .Where(s => s.State is not ('Z' or 'X') && ProcFs.Exe(s.Pid) == engine.ProxyPath)
            .Select(s => new ProxyProcess(s.Pid, engine.ProxyPath, ProcFs.Cmdline(s.Pid) ?? []))
            .ToList();

    /// <summary>dockerd's argv for one proxy, exactly (28.x adds -use-listen-fd, TCP and UDP alike).</summary>
    internal static string Argv(Engine engine, string proto, string hostIp, int hostPort, Container container, int containerPort)
    {
        var argv = new List<string>
        {
            engine.ProxyPath,
            "-proto", proto,
            "-host-ip", hostIp,
            "-host-port", hostPort.ToString(CultureInfo.InvariantCulture),
            "-container-ip", container.Address.ToString(),
            "-container-port", containerPort.ToString(CultureInfo.InvariantCulture),
        };
        if (engine.PassesListenFd)
        {
            argv.Add("-use-listen-fd");
        }

        return string.Join(' ', argv);
    }

    /// <summary>Waits (bounded) until none of the pids runs; returns how long that took, or null.</summary>
    internal static async Task<TimeSpan?> WaitGoneAsync(IEnumerable<int> pids, TimeSpan timeout)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        List<int> list = pids.ToList();
        while (list.Any(ProcFs.IsAlive))
        {
            if (clock.Elapsed > timeout)
            {
                return null;
            }

            await Task.Delay(10);
        }

        return clock.Elapsed;
    }
}
