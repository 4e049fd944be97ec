using System.Net;
using System.Net.Sockets;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Service;

/// <summary>
/// systemd socket activation: the listener comes as fd 3 with LISTEN_FDS=1 and LISTEN_PID naming
/// the proxy. LISTEN_PID must be the proxy's own pid, known only once it runs, so the proxy is
/// started through a shell that sets it to its own pid and then execs the proxy (same pid), as
/// systemd-less launchers do; the socket is inherited as fd 3.
/// </summary>
[Trait("Category", "Process")]
public sealed class SocketActivationTests
{
    private const string Shim = "LISTEN_PID=$$; LISTEN_FDS=1; LISTEN_FDNAMES=proxy; export LISTEN_PID LISTEN_FDS LISTEN_FDNAMES; exec \"$0\" \"$@\"";

    internal static SpawnedProcess StartActivated(Socket listener, IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null) =>
        SpawnedProcess.Start("/bin/sh", ["-c", Shim, Binaries.Path(Binaries.Ours), .. args], new SpawnOptions
        {
            StatusPipe = false,
            ActivationFd = (int)listener.Handle,
            Environment = environment ?? new Dictionary<string, string?>(),
        });

    [SkippableFact]
    public async Task Relays_through_the_socket_passed_as_fd_3()
    {
        await using EchoServer backend = Peers.Echo(IPAddress.Loopback);
        using Socket listener = Peers.Listen(IPAddress.Loopback);
        var host = (IPEndPoint)listener.LocalEndPoint!;

        // -host-port names another port on purpose: the passed socket is used, nothing is bound.
        int unused = Peers.FreePort(IPAddress.Loopback);
        await using SpawnedProcess proxy = StartActivated(listener, Process.ProxyRun.EngineArgs("tcp", new IPEndPoint(IPAddress.Loopback, unused), backend.EndPoint));
        listener.Close(); // the proxy holds its own copy now

        for (int i = 0; i < 3; i++)
        {
            using Socket client = await Peers.ConnectAsync(host);
            byte[] message = System.Text.Encoding.ASCII.GetBytes($"activated {i}");
            await client.SendAsync(message, SocketFlags.None);
            (await Peers.ReadExactlyAsync(client, message.Length)).Should().Equal(message);
        }

        (await Peers.IsListeningAsync(new IPEndPoint(IPAddress.Loopback, unused))).Should().BeFalse("-host-port is not bound under socket activation");
        proxy.Signal(Posix.SigTerm);
        (await proxy.WaitForExitAsync()).Should().Be(0);
    }

    [SkippableFact]
    public async Task Sends_READY_with_socket_activation_too()
    {
        using NotifySocket notify = NotifySocket.OnPath();
        await using EchoServer backend = Peers.Echo(IPAddress.Loopback);
        using Socket listener = Peers.Listen(IPAddress.Loopback);
        await using SpawnedProcess proxy = StartActivated(
            listener,
            Process.ProxyRun.EngineArgs("tcp", new IPEndPoint(IPAddress.Loopback, 0), backend.EndPoint),
            new Dictionary<string, string?> { ["NOTIFY_SOCKET"] = notify.Variable });

        (await notify.ReceiveAsync()).Should().Be("READY=1");
        proxy.Signal(Posix.SigTerm);
        (await notify.ReceiveAsync()).Should().Be("STOPPING=1");
        (await proxy.WaitForExitAsync()).Should().Be(0);
    }

    [SkippableFact]
    public async Task Refuses_a_passed_socket_of_the_wrong_protocol_with_the_original_wording()
    {
        using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        await using SpawnedProcess proxy = StartActivated(udp, Process.ProxyRun.EngineArgs("tcp", new IPEndPoint(IPAddress.Loopback, 0), new IPEndPoint(IPAddress.Loopback, 9)));

        (await proxy.WaitForExitAsync()).Should().Be(1);
        (await proxy.StderrAsync()).Should().Contain("unexpected socket type for listener fd: udp");
    }

    [SkippableFact]
    public async Task Takes_fd_3_as_the_status_pipe_when_LISTEN_PID_names_another_process()
    {
        await using EchoServer backend = Peers.Echo(IPAddress.Loopback);
        var host = new IPEndPoint(IPAddress.Loopback, Peers.FreePort(IPAddress.Loopback));
        var options = new SpawnOptions { Environment = new Dictionary<string, string?> { ["LISTEN_PID"] = "1", ["LISTEN_FDS"] = "1" } };
        await using SpawnedProcess proxy = SpawnedProcess.Start(Binaries.Path(Binaries.Ours), Process.ProxyRun.EngineArgs("tcp", host, backend.EndPoint), options);

        (await proxy.ReadStatusTextAsync()).Should().Be("0\n", "variables meant for another process change nothing");
        (await Peers.IsListeningAsync(host)).Should().BeTrue();
        proxy.Signal(Posix.SigInt);
        (await proxy.WaitForExitAsync()).Should().Be(0);
    }
}
