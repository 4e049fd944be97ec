using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Process;

/// <summary>
/// Where ours deliberately differs from the originals (docs/compatibility.md): nonsense refused at
/// start, a proxy started by hand keeps running, help on stdout, our own options. Ours only.
/// </summary>
[Trait("Category", "Process")]
public sealed class ContractDifferenceTests
{
    private static readonly IPAddress Loopback = IPAddress.Loopback;

    [SkippableFact]
    public async Task Started_by_hand_without_fd_3_it_runs_and_relays()
    {
        await using EchoServer backend = Peers.Echo(Loopback);
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ProxyRun.EngineArgs("tcp", host, backend.EndPoint),
            new SpawnOptions { StatusPipe = false, CaptureStdout = true });

        Socket? client = null;
        for (int attempt = 0; attempt < 200 && client is null; attempt++)
        {
            try
            {
                client = await Peers.ConnectAsync(host);
            }
            catch (SocketException)
            {
                await Task.Delay(10); // no status to wait for: poll until it listens (2 s at most)
            }
        }

        client.Should().NotBeNull("the proxy listens although nobody gave it fd 3");
        using (client)
        {
            await client!.SendAsync("by hand"u8.ToArray(), SocketFlags.None);
            client.Shutdown(SocketShutdown.Send);
            (await Peers.ReadToEndAsync(client)).Should().Equal("by hand"u8.ToArray());
        }

        proxy.Signal(Posix.SigInt);
        (await proxy.WaitForExitAsync()).Should().Be(0);
        (await proxy.StderrAsync()).Should().NotBeEmpty("a proxy run by hand logs to stderr");
        (await proxy.StdoutAsync()).Should().BeEmpty("without fd 3 there is no status to write, least of all to stdout (where the runtime's own fd 3 points)");
    }

    [SkippableFact]
    public async Task A_refusing_backend_is_a_warning_at_the_default_level_at_most_once_a_second()
    {
        // The original logs "Can't forward traffic to backend ..." for every connection; ours
        // says it at the default level too, but a client hammering a stopped container cannot
        // flood the log: one line a second, counting the rest.
        const int Clients = 20;
        var container = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = await ProxyRun.StartReadyAsync(Binaries.Ours, host, container);
        for (int i = 0; i < Clients; i++)
        {
            using Socket client = await Peers.ConnectAsync(host);
            (await Peers.NextEventAsync(client)).Should().Be("eof");
        }

        proxy.Signal(Posix.SigTerm);
        (await proxy.WaitForExitAsync()).Should().Be(0);
        string[] warnings = (await proxy.StderrAsync()).Split('\n')
            .Where(l => l.Contains($"Can't forward traffic to backend {container}: connection refused", StringComparison.Ordinal)).ToArray();
        warnings.Should().NotBeEmpty("a refused backend is worth a warning at the default level");
        warnings[0].Should().Contain("WRN").And.EndWith("(0 more since the last report)");
        warnings.Length.Should().BeLessThan(Clients, "the warnings are rate-limited");
    }

    [SkippableFact]
    public async Task With_use_listen_fd_and_no_fd_4_the_start_fails_on_fd_3()
    {
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ProxyRun.EngineArgs("tcp", host, new IPEndPoint(Loopback, 9), "-use-listen-fd"),
            new SpawnOptions { StderrToDevNull = true });
        (await proxy.ReadStatusTextAsync()).Should().Be("1\n-use-listen-fd: no listener on fd 4: bad file descriptor",
            "the fd the runtime opens for itself at 4 is not taken for one the engine passed");
        (await proxy.WaitForExitAsync()).Should().Be(1);
    }

    [SkippableTheory]
    [InlineData(new[] { "-host-port", "0", "-container-port", "80" }, "1\nmissing -container-ip")]
    [InlineData(new[] { "-host-port", "0", "-container-ip", "127.0.0.1" }, "1\nmissing -container-port")]
    [InlineData(new[] { "-host-port", "70000", "-container-ip", "127.0.0.1", "-container-port", "80" }, "1\ninvalid host port 70000: must be 0-65535 (0 picks a free port)")]
    [InlineData(new[] { "-host-port", "-5", "-container-ip", "127.0.0.1", "-container-port", "80" }, "1\ninvalid host port -5: must be 0-65535 (0 picks a free port)")]
    [InlineData(new[] { "-host-port", "0", "-container-ip", "127.0.0.1", "-container-port", "0" }, "1\ninvalid container port 0: must be 1-65535")]
    [InlineData(new[] { "-host-port", "0", "-container-ip", "0.0.0.0", "-container-port", "80" }, "1\ninvalid container ip 0.0.0.0: must be a unicast address")]
    [InlineData(new[] { "-container-ip", "127.0.0.1" }, "1\nmissing -host-port; missing -container-port")]
    [InlineData(new[] { "-host-port", "0", "-container-ip", "127.0.0.1", "-container-port", "80", "-log-level", "loud" }, "1\ninvalid -log-level \"loud\": must be debug, info, warn or error")]
    public async Task Nonsense_the_original_accepts_is_a_startup_failure_on_fd_3_and_stderr(string[] args, string expected)
    {
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ["-host-ip", "127.0.0.1", .. args]);
        (await proxy.ReadStatusTextAsync()).Should().Be(expected);
        (await proxy.WaitForExitAsync()).Should().Be(1);
        (await proxy.StderrAsync()).Should().Contain(expected[2..], "every start-up failure is also logged");
    }

    [SkippableFact]
    public async Task An_invalid_environment_setting_is_a_startup_failure_naming_the_variable()
    {
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours,
            ProxyRun.EngineArgs("tcp", new IPEndPoint(Loopback, 0), new IPEndPoint(Loopback, 9)),
            new SpawnOptions { Environment = new Dictionary<string, string?> { ["DOCKER_PROXY_LOG_FORMAT"] = "xml" } });
        (await proxy.ReadStatusTextAsync()).Should().Be("1\ninvalid DOCKER_PROXY_LOG_FORMAT \"xml\": must be text or json");
        (await proxy.WaitForExitAsync()).Should().Be(1);
    }

    [SkippableFact]
    public async Task Help_goes_to_stdout_and_lists_every_flag()
    {
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ["--help"], new SpawnOptions { CaptureStdout = true });
        (await proxy.WaitForExitAsync()).Should().Be(0);
        string help = await proxy.StdoutAsync();
        foreach (string flag in new[] { "-proto", "-host-ip", "-host-port", "-container-ip", "-container-port", "-use-listen-fd", "-v", "-version", "-log-level", "-log-format" })
        {
            help.Should().Contain(flag + " ");
        }

        help.Should().Contain("DOCKER_PROXY_LOG_LEVEL").And.Contain("DOCKER_PROXY_LOG_FORMAT");
    }

    [SkippableFact]
    public async Task Version_names_the_commit_and_version_like_the_original()
    {
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ["-version"], new SpawnOptions { CaptureStdout = true });
        (await proxy.WaitForExitAsync()).Should().Be(0);
        (await proxy.StdoutAsync()).Should().MatchRegex(@"^docker-proxy \(commit [0-9a-f]+\) version \d+\.\d+\.\d+\n$");
    }

    [SkippableFact]
    public async Task Json_logs_are_one_json_object_per_line()
    {
        await using EchoServer backend = Peers.Echo(Loopback);
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ProxyRun.EngineArgs("tcp", host, backend.EndPoint, "-log-format", "json", "-log-level", "debug"));
        (await proxy.ReadStatusTextAsync()).Should().Be("0\n");
        using (Socket client = await Peers.ConnectAsync(host))
        {
            client.Shutdown(SocketShutdown.Send);
            await Peers.ReadToEndAsync(client);
        }

        await proxy.WaitForStderrAsync(text => text.Contains("Closed", StringComparison.Ordinal));
        proxy.Signal(Posix.SigTerm);
        (await proxy.WaitForExitAsync()).Should().Be(0);
        string[] lines = (await proxy.StderrAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Should().HaveCountGreaterThan(2, "start, accept and close events at debug");
        foreach (string line in lines)
        {
            using JsonDocument doc = JsonDocument.Parse(line);
            doc.RootElement.TryGetProperty("Timestamp", out _).Should().BeTrue();
        }
    }

    [SkippableFact]
    public async Task Every_socket_is_close_on_exec_and_fd_4_is_given_up_after_adoption()
    {
        await using EchoServer backend = Peers.Echo(Loopback);
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(Loopback, 0));
        listener.Listen(16);
        string inode = SocketInode(Environment.ProcessId, (int)listener.Handle);
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours,
            ProxyRun.EngineArgs("tcp", (IPEndPoint)listener.LocalEndPoint!, backend.EndPoint, "-use-listen-fd"),
            new SpawnOptions { ListenFd = (int)listener.Handle, StderrToDevNull = true });
        (await proxy.ReadStatusTextAsync()).Should().Be("0\n");
        listener.Dispose();

        var holders = new List<int>();
        foreach (string path in Directory.GetFileSystemEntries($"/proc/{proxy.Pid}/fd"))
        {
            int fd = int.Parse(Path.GetFileName(path), CultureInfo.InvariantCulture);
            if (fd <= 2 || !SocketInode(proxy.Pid, fd).StartsWith("socket:", StringComparison.Ordinal))
            {
                continue; // the runtime's own files are its business; sockets are what the engine passes
            }

            string flags = File.ReadLines($"/proc/{proxy.Pid}/fdinfo/{fd}").First(l => l.StartsWith("flags:", StringComparison.Ordinal));
            long octal = Convert.ToInt64(flags.Split('\t', ' ').Last(), 8);
            (octal & 0x80000).Should().NotBe(0, $"fd {fd} ({SocketInode(proxy.Pid, fd)}) must be close-on-exec");
            if (SocketInode(proxy.Pid, fd) == inode)
            {
                holders.Add(fd);
            }
        }

        holders.Should().ContainSingle("the engine's socket is served as it is, from one fd").Which.Should().NotBe(4, "the original fd 4 is closed after it was duplicated");
        Directory.GetFileSystemEntries($"/proc/{proxy.Pid}/fd").Select(Path.GetFileName).Should()
            .NotContain("3", "the status pipe is closed once 0\\n is written");
    }

    private static string SocketInode(int pid, int fd)
    {
        try
        {
            return new FileInfo($"/proc/{pid}/fd/{fd}").LinkTarget ?? string.Empty;
        }
        catch (IOException)
        {
            return string.Empty;
        }
    }
}
