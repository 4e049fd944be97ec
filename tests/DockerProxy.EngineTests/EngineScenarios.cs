using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.RegularExpressions;
using DockerProxy.EngineTests.Support;
using Xunit.Abstractions;

[assembly: TestCaseOrderer("DockerProxy.EngineTests.Support.ScenarioOrderer", "DockerProxy.EngineTests")]

namespace DockerProxy.EngineTests;

/// <summary>
/// The scenarios, run against a real private dockerd whose userland proxy is ours and against
/// one whose proxy is Docker's original of the same release (each a theory case). The derived
/// classes pick the release; scenarios run in their order, the destructive ones last.
/// </summary>
public abstract class EngineScenarios
{
    private static readonly IPAddress V4 = IPAddress.Loopback;
    private static readonly IPAddress V6 = IPAddress.IPv6Loopback;
    private static readonly byte[] Index = "hello from dpe-tiny\n"u8.ToArray();

    private readonly EngineFixture _fixture;
    private readonly ITestOutputHelper _output;
    private readonly List<string> _notes = [];

    private protected EngineScenarios(EngineFixture fixture, ITestOutputHelper output)
    {
        _fixture = fixture;
        _output = output;
    }

    [SkippableTheory]
    [InlineData(ProxyKind.Ours)]
    [InlineData(ProxyKind.Original)]
    [Scenario(1, "publish 127.0.0.1/::1/ephemeral/all, tcp+udp: argv")]
    public Task Publishing_starts_one_proxy_per_address_with_the_engines_exact_argv_holding_its_socket(ProxyKind proxy) =>
        RunAsync(proxy, async engine =>
        {
            int p1 = Net.FreePort(), p2 = Net.FreePort(), p3 = Net.FreePort(), u1 = Net.FreePort("udp"), u2 = Net.FreePort("udp");
            Container c = await Containers.RunAsync(engine, "publish",
                [$"127.0.0.1:{p1}:80", $"[::1]:{p2}:80", "127.0.0.1::80", $"{p3}:80", $"127.0.0.1:{u1}:5353/udp", $"[::1]:{u2}:5353/udp"]);
            int ephemeral = await Containers.HostPortAsync(engine, c.Name, "80/tcp", "127.0.0.1", except: p1);

            List<ProxyProcess> proxies = Containers.ProxiesOf(engine, c);
            proxies.Select(p => p.Exe).Should().AllBe(engine.ProxyPath, "dockerd runs --userland-proxy-path for every published port");
            proxies.Select(p => string.Join(' ', p.Argv)).Should().BeEquivalentTo(
                [
                    Containers.Argv(engine, "tcp", "127.0.0.1", p1, c, 80),
                    Containers.Argv(engine, "tcp", "::1", p2, c, 80),
                    Containers.Argv(engine, "tcp", "127.0.0.1", ephemeral, c, 80),
                    Containers.Argv(engine, "tcp", "0.0.0.0", p3, c, 80),
                    Containers.Argv(engine, "tcp", "::", p3, c, 80),
                    Containers.Argv(engine, "udp", "127.0.0.1", u1, c, 5353),
                    Containers.Argv(engine, "udp", "::1", u2, c, 5353),
                ],
                "one proxy per address and protocol, -p P:80 giving two (0.0.0.0 and ::), in dockerd's argument order");

            // Each published address is served by a socket that its proxy, and nothing else of the
            // engine, holds.
            int dockerd = engine.DockerdPid;
            foreach (ProxyProcess p in proxies)
            {
                long? inode = ProcFs.BoundSocket(p.Proto, p.HostIp, p.HostPort);
                inode.Should().NotBeNull($"something is bound to {p.Proto} {p.HostIp} port {p.HostPort}");
                var holders = proxies.Select(q => q.Pid).Append(dockerd)
                    .Where(pid => ProcFs.Sockets(pid).ContainsValue(inode!.Value)).ToList();
                holders.Should().Equal([p.Pid], $"only the proxy {p} holds the socket serving its port");
            }

            Note($"{proxies.Count} proxies, e.g. `{string.Join(' ', proxies[0].Argv.Skip(1))}`");
            await Containers.RemoveAsync(engine, c.Name);
        });

    [SkippableTheory]
    [InlineData(ProxyKind.Ours)]
    [InlineData(ProxyKind.Original)]
    [Scenario(2, "served socket: dockerd's via fd 4 / proxy's own")]
    public Task The_socket_serving_the_port_is_the_one_the_engine_bound_and_handed_over_or_the_proxys_own(ProxyKind proxy) =>
        RunAsync(proxy, async engine =>
        {
            int tcp4 = Net.FreePort(), tcp6 = Net.FreePort(), udp4 = Net.FreePort("udp");
            (string Proto, IPAddress Ip, int Port)[] published = [("tcp", V4, tcp4), ("tcp", V6, tcp6), ("udp", V4, udp4)];
            int dockerd = engine.DockerdPid;
            Container c;
            SyscallTrace.Trace trace;
            await using (SyscallTrace strace = await SyscallTrace.AttachAsync([dockerd], engine.StateDir))
            {
                c = await Containers.RunAsync(engine, "handover", [$"127.0.0.1:{tcp4}:80", $"[::1]:{tcp6}:80", $"127.0.0.1:{udp4}:5353/udp"]);
                trace = await strace.StopAsync();
            }

            HashSet<int> dockerdThreads = ProcFs.Threads(dockerd);
            List<ProxyProcess> proxies = Containers.ProxiesOf(engine, c);
            trace.ExecsOf(engine.ProxyPath).Should().BeEquivalentTo(proxies.Select(p => p.Pid), "the trace saw every proxy start");
            foreach ((string proto, IPAddress ip, int port) in published)
            {
                ProxyProcess p = proxies.Single(q => q.Proto == proto && q.HostPort == port);
                long inode = ProcFs.BoundSocket(proto, ip, port) ?? throw new InvalidOperationException($"nothing bound to {proto} {ip} {port}");
                ProcFs.Sockets(p.Pid).Should().ContainValue(inode, $"the proxy {p.Pid} serves {proto} {ip}:{port}");
                HashSet<int> proxyThreads = ProcFs.Threads(p.Pid);
                List<SyscallTrace.Bind> seen = trace.Binds.Where(b => b.Port == port).ToList();
                string trail = string.Join("\n", seen.Select(b => b.Line));
                string where = ip.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{ip}]:{port}" : $"{ip}:{port}";
                if (engine.PassesListenFd)
                {
                    // dockerd bound fd N (the served socket), the child put fd N on fd 4 before
                    // exec'ing the proxy, and the proxy serves with that socket.
                    seen.Should().ContainSingle(b => b.Inode == inode,
                        $"dockerd {engine.Version} binds {proto} {where} itself; binds seen:\n{trail}");
                    seen.Should().OnlyContain(b => dockerdThreads.Contains(b.Tid),
                        $"no one but dockerd binds the port: the proxy adopts the socket it got on fd 4; binds seen:\n{trail}");
                    trace.ListenFds.Should().ContainKey(p.Pid, "dockerd hands the proxy a socket on fd 4");
                    trace.ListenFds[p.Pid].Should().Be((seen.Single(b => b.Inode == inode).Fd, where),
                        "fd 4 is the very socket dockerd bound (same fd, same address)");
                }
                else
                {
                    seen.Should().ContainSingle(b => b.Inode == inode && (b.Tid == p.Pid || proxyThreads.Contains(b.Tid)),
                        $"dockerd {engine.Version} leaves binding to the proxy, which serves with its own socket; binds seen:\n{trail}");
                    seen.Should().NotContain(b => dockerdThreads.Contains(b.Tid), "dockerd 20.10 binds nothing itself");
                    trace.ListenFds.Should().NotContainKey(p.Pid, "dockerd 20.10 passes no socket");
                }

                SyscallTrace.Trace.Show(trace.StatusOf(p.Pid)).Should().Be("\"0\\n\"", $"the proxy for {proto} {ip}:{port} reports ready on fd 3 with exactly 0\\n");
            }

            Note((engine.PassesListenFd ? "each served socket was bound by dockerd and passed as fd 4 (same fd, same inode)"
                : "each served socket was bound by the proxy process itself") + "; fd 3 got exactly \"0\\n\" (strace)");
            await Containers.RemoveAsync(engine, c.Name);
        });

    [SkippableTheory]
    [InlineData(ProxyKind.Ours)]
    [InlineData(ProxyKind.Original)]
    [Scenario(3, "HTTP through every published address")]
    public Task Relays_http_through_every_published_address(ProxyKind proxy) =>
        RunAsync(proxy, async engine =>
        {
            int p1 = Net.FreePort(), p2 = Net.FreePort(), p3 = Net.FreePort();
            Container c = await Containers.RunAsync(engine, "http", [$"127.0.0.1:{p1}:80", $"[::1]:{p2}:80", "127.0.0.1::80", $"{p3}:80"]);
            int ephemeral = await Containers.HostPortAsync(engine, c.Name, "80/tcp", "127.0.0.1", except: p1);
            IPEndPoint[] fronts = [new(V4, p1), new(V6, p2), new(V4, ephemeral), new(V4, p3), new(V6, p3)];
            foreach (IPEndPoint front in fronts)
            {
                (int status, byte[] body) = await Net.HttpGetAsync(front, "/");
                status.Should().Be(200, $"GET / through {front}");
                body.Should().Equal(Index, $"the container's page through {front}");
            }

            (int bigStatus, byte[] big) = await Net.HttpGetAsync(new IPEndPoint(V4, p1), "/big.txt");
            bigStatus.Should().Be(200);
            big.Length.Should().Be(1 << 20, "1 MiB through the proxy");
            big.Should().OnlyContain(b => b == (byte)'x');
            Note($"GET / through {fronts.Length} addresses (ephemeral port {ephemeral}), 1 MiB file");
            await Containers.RemoveAsync(engine, c.Name);
        });

    [SkippableTheory]
    [InlineData(ProxyKind.Ours)]
    [InlineData(ProxyKind.Original)]
    [Scenario(4, "TCP: 8 MiB echo with half-close (v4, v6)")]
    public Task Relays_a_large_echo_and_passes_the_half_close_on(ProxyKind proxy) =>
        RunAsync(proxy, async engine =>
        {
            int p4 = Net.FreePort(), p6 = Net.FreePort();
            Container c = await Containers.RunAsync(engine, "echo", [$"127.0.0.1:{p4}:7", $"[::1]:{p6}:7"]);
            byte[] payload = new byte[8 << 20];
            Random.Shared.NextBytes(payload);
            foreach (IPEndPoint front in new IPEndPoint[] { new(V4, p4), new(V6, p6) })
            {
                var clock = Stopwatch.StartNew();
                byte[] echoed = await Net.EchoWithHalfCloseAsync(front, payload);
                echoed.Length.Should().Be(payload.Length, $"all of it comes back through {front}, then EOF");
                echoed.AsSpan().SequenceEqual(payload).Should().BeTrue($"the echo through {front} is byte for byte the payload");
                Note($"8 MiB through {front} in {clock.Elapsed.TotalSeconds:0.00} s");
            }

            await Containers.RemoveAsync(engine, c.Name);
        });

    [SkippableTheory]
    [InlineData(ProxyKind.Ours)]
    [InlineData(ProxyKind.Original)]
    [Scenario(5, "TCP: 32 parallel connections")]
    public Task Relays_32_parallel_connections(ProxyKind proxy) =>
        RunAsync(proxy, async engine =>
        {
            int port = Net.FreePort();
            Container c = await Containers.RunAsync(engine, "parallel", [$"127.0.0.1:{port}:7"]);
            var front = new IPEndPoint(V4, port);
            byte[][] payloads = Enumerable.Range(0, 32).Select(i =>
            {
                byte[] b = new byte[256 * 1024];
                Random.Shared.NextBytes(b);
                b[0] = (byte)i;
                return b;
            }).ToArray();
            var clock = Stopwatch.StartNew();
            byte[][] echoed = await Task.WhenAll(payloads.Select(p => Net.EchoWithHalfCloseAsync(front, p)));
            for (int i = 0; i < payloads.Length; i++)
            {
                echoed[i].AsSpan().SequenceEqual(payloads[i]).Should().BeTrue($"connection {i} gets its own 256 KiB back");
            }

            Note($"32 x 256 KiB at once in {clock.Elapsed.TotalSeconds:0.00} s");
            await Containers.RemoveAsync(engine, c.Name);
        });

    [SkippableTheory]
    [InlineData(ProxyKind.Ours)]
    [InlineData(ProxyKind.Original)]
    [Scenario(6, "UDP: echo, 8 clients (v4, v6)")]
    public Task Relays_udp_echo_for_several_clients(ProxyKind proxy) =>
        RunAsync(proxy, async engine =>
        {
            int u4 = Net.FreePort("udp"), u6 = Net.FreePort("udp");
            Container c = await Containers.RunAsync(engine, "udp", [$"127.0.0.1:{u4}:5353/udp", $"[::1]:{u6}:5353/udp"]);
            int[] sizes = [1, 7, 64, 512, 1200, 1472, 3000, 8000];
            var clients = Enumerable.Range(0, 8).Select(async client =>
            {
                IPEndPoint front = new(client % 2 == 0 ? V4 : V6, client % 2 == 0 ? u4 : u6);
                byte[][] datagrams = Enumerable.Range(0, 16).Select(i =>
                {
                    byte[] d = new byte[sizes[i % sizes.Length]];
                    Random.Shared.NextBytes(d);
                    d[0] = (byte)(client * 16 + i);
                    return d;
                }).ToArray();
                List<byte[]> replies = await Net.UdpExchangeAsync(front, datagrams);
                for (int i = 0; i < datagrams.Length; i++)
                {
                    replies[i].Should().Equal(datagrams[i], $"client {client} datagram {i} ({datagrams[i].Length} bytes) through {front}");
                }
            });
            await Task.WhenAll(clients);
            Note("8 clients x 16 datagrams (1 to 8000 bytes), 4 through 127.0.0.1, 4 through ::1");
            await Containers.RemoveAsync(engine, c.Name);
        });

    [SkippableTheory]
    [InlineData(ProxyKind.Ours)]
    [InlineData(ProxyKind.Original)]
    [Scenario(7, "host-port conflict: docker run fails at once")]
    public Task A_host_port_conflict_fails_docker_run_promptly_with_the_engines_error(ProxyKind proxy) =>
        RunAsync(proxy, async engine =>
        {
            (string Proto, IPAddress Ip, string Spec, int ContainerPort)[] cases =
            [
                ("tcp", V4, "127.0.0.1:{0}:80", 80),
                ("tcp", V6, "[::1]:{0}:80", 80),
                ("udp", V4, "127.0.0.1:{0}:5353/udp", 5353),
            ];
            int n = 0;
            foreach ((string proto, IPAddress ip, string spec, int containerPort) in cases)
            {
                int port = Net.FreePort(proto);
                using Socket holder = Net.Hold(proto, ip, port);
                long held = ProcFs.Sockets(Environment.ProcessId)[(int)holder.Handle];
                string name = $"conflict{n++}";
                CommandResult run;
                SyscallTrace.Trace trace;
                await using (SyscallTrace strace = await SyscallTrace.AttachAsync([engine.DockerdPid], engine.StateDir))
                {
                    run = await engine.DockerAsync("run", "-d", "--name", name, "-v", "/usr:/usr:ro",
                        "-p", string.Format(CultureInfo.InvariantCulture, spec, port), engine.Image);
                    trace = await strace.StopAsync();
                }

                string where = ip.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{ip}]:{port}" : $"{ip}:{port}";
                string family = proto + (ip.AddressFamily == AddressFamily.InterNetworkV6 ? "6" : "4");
                run.ExitCode.Should().Be(125, $"docker run must fail when {proto} {where} is taken ({run})");
                run.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(8), "the failure surfaces at once, not after dockerd's 16 s wait for the proxy");
                // 28.x binds the port itself and reports the conflict without starting a proxy; 20.10
                // passes on what the proxy wrote to fd 3: the original's Go error, or ours, which
                // words it as 28.5's proxy does (docs/compatibility.md: 20.10's text is its suffix).
                string expected = engine.PassesListenFd
                    ? $@"failed to bind host port for {Regex.Escape(where)}:[0-9.]+:{containerPort}/{proto}: address already in use"
                    : Regex.Escape("Error starting userland proxy: " +
                                   (proxy == ProxyKind.Ours ? $"failed to listen on {where}: " : "") +
                                   $"listen {family} {where}: bind: address already in use");
                run.Stderr.Should().MatchRegex(expected, "docker run reports the engine's error (with the proxy's fd 3 message on 20.10)");
                List<int> started = trace.ExecsOf(engine.ProxyPath).Where(pid => trace.Execs[pid].Contains(port.ToString(CultureInfo.InvariantCulture))).ToList();
                string proxyReport = "";
                if (engine.PassesListenFd)
                {
                    started.Should().BeEmpty("dockerd 28.x finds the conflict binding the port itself, before any proxy starts");
                }
                else
                {
                    started.Should().ContainSingle("dockerd 20.10 starts one proxy, which finds the conflict");
                    string status = Encoding.UTF8.GetString(trace.StatusOf(started[0]) ?? []);
                    status.Should().StartWith("1\n", "the proxy reports failure on fd 3");
                    run.Stderr.Should().Contain("Error starting userland proxy: " + status[2..], "dockerd passes on what the proxy wrote after 1\\n");
                    // dockerd 20.10 sends SIGINT as soon as it has read the status (EOF on the pipe): a
                    // proxy that has not exited by then dies of it. The originals lose that race now
                    // and then too, so either ending is the engine's normal course.
                    trace.Exits.GetValueOrDefault(started[0]).Should().BeOneOf(["exited with 1", "killed by SIGINT"],
                        "the proxy ends after reporting the failure: exit 1, or dockerd's SIGINT right after it read the status");
                    proxyReport = $"; proxy: fd 3 {SyscallTrace.Trace.Show(trace.StatusOf(started[0]))}, {trace.Exits[started[0]]}";
                }

                Note($"{proto} {where}: docker run exit {run.ExitCode} after {run.Elapsed.TotalSeconds:0.00} s: " +
                     Regex.Match(run.Stderr, @"(Error starting userland proxy|failed to bind host port)[^\n]*").Value + proxyReport);

                (await Containers.IsRunningAsync(engine, name)).Should().BeFalse("the container does not run without its port");
                Containers.Proxies(engine).Should().NotContain(p => p.HostPort == port, "no proxy stays behind for the failed port");
                ProcFs.BoundSocket(proto, ip, port).Should().Be(held, "the port still belongs to whoever had it");
                await Containers.RemoveAsync(engine, name);
            }
        });

    [SkippableTheory]
    [InlineData(ProxyKind.Ours)]
    [InlineData(ProxyKind.Original)]
    [Scenario(8, "docker stop / rm -f: proxies end, ports freed")]
    public Task Docker_stop_and_rm_end_the_proxies_at_once_and_free_the_ports(ProxyKind proxy) =>
        RunAsync(proxy, async engine =>
        {
            int p1 = Net.FreePort(), p2 = Net.FreePort(), u = Net.FreePort("udp");
            string[] publish = [$"127.0.0.1:{p1}:80", $"{p2}:80", $"127.0.0.1:{u}:5353/udp"];
            (string Proto, IPAddress Ip, int Port)[] bound =
                [("tcp", V4, p1), ("tcp", IPAddress.Any, p2), ("tcp", IPAddress.IPv6Any, p2), ("udp", V4, u)];
            Container c = await Containers.RunAsync(engine, "stoprm", publish);

            foreach (string[] command in new[] { new[] { "stop", "-t", "1", c.Name }, new[] { "rm", "-f", c.Name } })
            {
                List<ProxyProcess> proxies = Containers.ProxiesOf(engine, c);
                proxies.Should().HaveCount(4);
                await using SyscallTrace strace = await SyscallTrace.AttachAsync(proxies.Select(p => p.Pid).ToList(), engine.StateDir);
                CommandResult result = await engine.DockerAsync(command);
                result.ExitCode.Should().Be(0, $"docker {string.Join(' ', command)} ({result})");
                TimeSpan? gone = await Containers.WaitGoneAsync(proxies.Select(p => p.Pid), TimeSpan.FromSeconds(10));
                gone.Should().NotBeNull($"the proxies end when docker {command[0]} returns: still running {string.Join(", ", proxies.Where(p => ProcFs.IsAlive(p.Pid)))}");
                SyscallTrace.Trace trace = await strace.WaitAsync(TimeSpan.FromSeconds(5));
                foreach (ProxyProcess p in proxies)
                {
                    trace.SignalsOf(p.Pid).Should().NotBeEmpty().And.OnlyContain(sig => sig == "SIGINT", $"dockerd stops the proxy {p} with SIGINT");
                    trace.Exits.GetValueOrDefault(p.Pid).Should().Be("exited with 0", $"the proxy {p} exits 0 on SIGINT");
                }

                foreach ((string proto, IPAddress ip, int port) in bound)
                {
                    Net.CanBind(proto, ip, port).Should().BeTrue($"{proto} {ip}:{port} is free after docker {command[0]}");
                }

                Note($"docker {command[0]}: {result.Elapsed.TotalSeconds:0.00} s, 4 proxies got SIGINT and exited 0, gone {gone!.Value.TotalMilliseconds:0} ms after it returned, ports free");
                if (command[0] == "stop")
                {
                    await engine.DockerOkAsync("start", c.Name);
                    await Net.WaitListeningAsync(c.Backend(80), TimeSpan.FromSeconds(20));
                    c = c with { Address = await Containers.AddressAsync(engine, c.Name) };
                }
            }
        });

    [SkippableTheory]
    [InlineData(ProxyKind.Ours)]
    [InlineData(ProxyKind.Original)]
    [Scenario(9, "docker restart: same ports bound again")]
    public Task Docker_restart_binds_the_same_ports_again(ProxyKind proxy) =>
        RunAsync(proxy, async engine =>
        {
            int p4 = Net.FreePort(), p6 = Net.FreePort(), u = Net.FreePort("udp");
            Container c = await Containers.RunAsync(engine, "restart", [$"127.0.0.1:{p4}:80", $"[::1]:{p6}:80", $"127.0.0.1:{u}:5353/udp"]);
            List<ProxyProcess> before = Containers.ProxiesOf(engine, c);
            before.Should().HaveCount(3);

            CommandResult restart = await engine.DockerAsync("restart", "-t", "1", c.Name);
            restart.ExitCode.Should().Be(0, restart.ToString());
            (await Containers.WaitGoneAsync(before.Select(p => p.Pid), TimeSpan.FromSeconds(10))).Should().NotBeNull("the old proxies ended");
            c = c with { Address = await Containers.AddressAsync(engine, c.Name) };
            await Net.WaitListeningAsync(c.Backend(80), TimeSpan.FromSeconds(20));
            List<ProxyProcess> after = Containers.ProxiesOf(engine, c);
            after.Select(p => string.Join(' ', p.Argv)).Should().BeEquivalentTo(
            [
                Containers.Argv(engine, "tcp", "127.0.0.1", p4, c, 80),
                Containers.Argv(engine, "tcp", "::1", p6, c, 80),
                Containers.Argv(engine, "udp", "127.0.0.1", u, c, 5353),
            ]);
            after.Select(p => p.Pid).Should().NotIntersectWith(before.Select(p => p.Pid), "new proxies serve the restarted container");

            foreach (IPEndPoint front in new IPEndPoint[] { new(V4, p4), new(V6, p6) })
            {
                (int status, byte[] body) = await Net.HttpGetAsync(front, "/");
                status.Should().Be(200);
                body.Should().Equal(Index, $"served again through {front}");
            }

            (await Net.UdpExchangeAsync(new IPEndPoint(V4, u), ["again"u8.ToArray()]))[0].Should().Equal("again"u8.ToArray());
            Note($"docker restart: {restart.Elapsed.TotalSeconds:0.00} s, 3 new proxies on the same ports, relaying");
            await Containers.RemoveAsync(engine, c.Name);
        });

    [SkippableTheory]
    [InlineData(ProxyKind.Ours)]
    [InlineData(ProxyKind.Original)]
    [Scenario(10, "kill -9 dockerd: proxies end <3 s; restart reaps")]
    public Task Kill_9_of_dockerd_ends_every_proxy_within_3_s_and_a_restarted_dockerd_reaps_the_rest(ProxyKind proxy) =>
        RunAsync(proxy, async engine =>
        {
            int a1 = Net.FreePort(), a2 = Net.FreePort(), au = Net.FreePort("udp"), b1 = Net.FreePort();
            Container a = await Containers.RunAsync(engine, "crash-a", [$"127.0.0.1:{a1}:80", $"{a2}:80", $"127.0.0.1:{au}:5353/udp"]);
            Container b = await Containers.RunAsync(engine, "crash-b", [$"127.0.0.1:{b1}:80"], "--restart", "always");
            Containers.ProxiesOf(engine, a).Should().HaveCount(4);
            Containers.ProxiesOf(engine, b).Should().HaveCount(1);
            List<ProxyProcess> proxies = Containers.Proxies(engine);

            int oldDockerd = engine.DockerdPid;
            SyscallTrace.Trace trace;
            TimeSpan? gone;
            await using (SyscallTrace strace = await SyscallTrace.AttachAsync(proxies.Select(p => p.Pid).ToList(), engine.StateDir))
            {
                Posix.Kill(oldDockerd, Posix.SigKill).Should().Be(0);
                gone = await Containers.WaitGoneAsync(proxies.Select(p => p.Pid), TimeSpan.FromSeconds(3));
                trace = await strace.WaitAsync(TimeSpan.FromSeconds(5));
            }

            gone.Should().NotBeNull("every proxy ends with dockerd (parent-death SIGTERM): still running " +
                                    string.Join(", ", proxies.Where(p => ProcFs.IsAlive(p.Pid))));
            // The parent-death signal comes once per dockerd thread the proxy is handed to while
            // dockerd's threads die one by one: often twice or more within a millisecond. The
            // proxy exits 0 however many arrive.
            string endings = string.Join(", ", proxies.Select(p =>
                $"{p.Proto} {p.Arg("-host-ip")}:{p.HostPort}: SIGTERM x{trace.SignalsOf(p.Pid).Count}, {trace.Exits.GetValueOrDefault(p.Pid, "?")}"));
            Note($"gone {gone!.Value.TotalMilliseconds:0} ms after kill -9 of dockerd; {endings}");
            foreach (ProxyProcess p in proxies)
            {
                trace.SignalsOf(p.Pid).Should().NotBeEmpty().And.OnlyContain(sig => sig == "SIGTERM", $"the proxy {p} gets its parent-death signal");
            }

            // Checked at the end, so that the restart below is seen (and reported) either way.
            List<string> badExits = proxies.Where(p => trace.Exits.GetValueOrDefault(p.Pid) != "exited with 0")
                .Select(p => $"{p} got SIGTERM x{trace.SignalsOf(p.Pid).Count} and {trace.Exits.GetValueOrDefault(p.Pid, "?")}").ToList();

            foreach ((string proto, IPAddress ip, int port) in new[] { ("tcp", V4, a1), ("tcp", IPAddress.Any, a2), ("udp", V4, au), ("tcp", V4, b1) })
            {
                Net.CanBind(proto, ip, port).Should().BeTrue($"{proto} {ip}:{port} is free once the proxies are gone");
            }

            await engine.RestartDockerdAsync();
            engine.DockerdPid.Should().NotBe(oldDockerd);

            // The restarted dockerd brings back the container with a restart policy, on its port,
            // and cleans up after the other: no proxy for it, its ports free, no stray proxy.
            var clock = Stopwatch.StartNew();
            List<ProxyProcess> now = [];
            bool settled = false;
            while (!settled && clock.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(200);
                now = Containers.AllProxyProcesses(engine);
                settled = now.Count == 1 && now[0].HostPort == b1 && await Containers.IsRunningAsync(engine, b.Name);
            }

            settled.Should().BeTrue($"after the restart only the proxy of the restarted container runs; now: {string.Join("; ", now)}\n{engine.DockerdLogTail()}");
            ProcFs.ReadStat(now[0].Pid)!.Value.PPid.Should().Be(engine.DockerdPid, "the new dockerd runs it");
            b = b with { Address = await Containers.AddressAsync(engine, b.Name) };
            string.Join(' ', now[0].Argv).Should().Be(Containers.Argv(engine, "tcp", "127.0.0.1", b1, b, 80));
            await Net.WaitListeningAsync(b.Backend(80), TimeSpan.FromSeconds(20));
            (int status, byte[] body) = await Net.HttpGetAsync(new IPEndPoint(V4, b1), "/");
            status.Should().Be(200);
            body.Should().Equal(Index);
            (await Containers.IsRunningAsync(engine, a.Name)).Should().BeFalse("the container without restart policy stays down");
            foreach ((string proto, IPAddress ip, int port) in new[] { ("tcp", V4, a1), ("tcp", IPAddress.Any, a2), ("tcp", IPAddress.IPv6Any, a2), ("udp", V4, au) })
            {
                Net.CanBind(proto, ip, port).Should().BeTrue($"{proto} {ip}:{port} stays free after the restart");
            }

            Note($"restarted dockerd settled in {clock.Elapsed.TotalSeconds:0.0} s: the --restart always container back on {b1}, nothing else");
            await Containers.RemoveAsync(engine, a.Name, b.Name);
            badExits.Should().BeEmpty("a proxy exits 0 on SIGTERM, however often it arrives (as the originals do)");
        });

    [SkippableTheory]
    [InlineData(ProxyKind.Ours)]
    [InlineData(ProxyKind.Original)]
    [Scenario(99, "engine stopped: nothing left behind")]
    public Task Stopping_the_engine_leaves_no_process_bridge_mount_or_firewall_change(ProxyKind proxy) =>
        RunAsync(proxy, async engine =>
        {
            string state = engine.StateDir;
            int supervisor = engine.SupervisorPid;
            await engine.StopAsync();

            var left = ProcFs.All().Where(s => s.State is not ('Z' or 'X'))
                .Where(s => (ProcFs.Cmdline(s.Pid) is { } argv && argv.Any(a => a.Contains(state, StringComparison.Ordinal))) ||
                            (ProcFs.Exe(s.Pid)?.StartsWith(state, StringComparison.Ordinal) ?? false))
                .Select(s => $"{s.Pid} {string.Join(' ', ProcFs.Cmdline(s.Pid) ?? [])}").ToList();
            left.Should().BeEmpty("no process of the engine is left");
            if (supervisor > 0)
            {
                ProcFs.IsAlive(supervisor).Should().BeFalse("the supervisor ended");
            }

            Directory.Exists($"/sys/class/net/{engine.Bridge}").Should().BeFalse($"the bridge {engine.Bridge} is gone");
            File.ReadAllText("/proc/self/mountinfo").Should().NotContain(state, "nothing stays mounted");
            Directory.EnumerateDirectories("/sys/fs/cgroup").Select(controller => controller + engine.CgroupParent)
                .Where(Directory.Exists).Should().BeEmpty("the engine's cgroups are removed");
            Directory.Exists(state).Should().BeFalse("the state directory is removed");
            if (_fixture.FirewallBefore is { } before)
            {
                (await EngineFixture.FirewallAsync()).Should().Be(before, "iptables-save and ip6tables-save show the host's tables untouched");
                Note("no process, bridge, mount, cgroup or state left; iptables/ip6tables unchanged");
            }
            else
            {
                Note("no process, bridge, mount or state left (no iptables-save here)");
            }
        });

    private void Note(string note) => _notes.Add(note);

    private async Task RunAsync(ProxyKind kind, Func<Engine, Task> scenario, [CallerMemberName] string method = "")
    {
        ScenarioAttribute meta = GetType().GetMethod(method)?.GetCustomAttribute<ScenarioAttribute>()
                                 ?? throw new InvalidOperationException($"{method} has no [Scenario]");
        var clock = Stopwatch.StartNew();
        string status = "FAIL";
        try
        {
            if (_fixture.SkipReason is not null)
            {
                status = Requirements.IsCi ? "FAIL" : "skip";
                Requirements.SkipOrFail(_fixture.SkipReason);
            }

            Engine engine = await _fixture.EngineAsync(kind);
            try
            {
                await scenario(engine);
            }
            catch (Exception) when (DumpDockerdLog(engine))
            {
                throw;
            }

            status = "pass";
        }
        finally
        {
            _fixture.Scoreboard.Record(meta.Order, meta.Title, kind, new Outcome(status, clock.Elapsed, [.. _notes]));
        }
    }

    private bool DumpDockerdLog(Engine engine)
    {
        _output.WriteLine($"dockerd {engine.ServerVersion}, proxy {engine.ProxySource} (run as {engine.ProxyPath}), state {engine.StateDir}");
        foreach (string note in _notes)
        {
            _output.WriteLine(note);
        }

        _output.WriteLine("dockerd log (tail):\n" + engine.DockerdLogTail(30));
        return false;
    }
}

[Trait("Category", "Engine")]
public sealed class Dockerd2010(Dockerd2010Fixture fixture, ITestOutputHelper output)
    : EngineScenarios(fixture, output), IClassFixture<Dockerd2010Fixture>;

[Trait("Category", "Engine")]
public sealed class Dockerd285(Dockerd285Fixture fixture, ITestOutputHelper output)
    : EngineScenarios(fixture, output), IClassFixture<Dockerd285Fixture>;
