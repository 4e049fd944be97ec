using System.Net;
using DockerProxy.Tests.Process;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Service;

/// <summary>sd_notify for a Type=notify unit: READY=1 once listening, STOPPING=1 on a stop signal.</summary>
[Trait("Category", "Process")]
public sealed class NotifyTests
{
    [SkippableTheory]
    [InlineData(false, Posix.SigTerm)]
    [InlineData(true, Posix.SigInt)]
    public async Task Sends_READY_once_the_port_listens_and_STOPPING_on_a_stop_signal(bool abstractAddress, int signal)
    {
        using NotifySocket notify = abstractAddress ? NotifySocket.Abstract() : NotifySocket.OnPath();
        await using EchoServer backend = Peers.Echo(IPAddress.Loopback);
        var host = new IPEndPoint(IPAddress.Loopback, Peers.FreePort(IPAddress.Loopback));
        var options = new SpawnOptions { Environment = new Dictionary<string, string?> { ["NOTIFY_SOCKET"] = notify.Variable } };
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ProxyRun.EngineArgs("tcp", host, backend.EndPoint), options);

        (await notify.ReceiveAsync()).Should().Be("READY=1");
        (await Peers.IsListeningAsync(host)).Should().BeTrue("READY=1 comes only once the port listens");
        (await proxy.ReadStatusTextAsync()).Should().Be("0\n", "the engine's status pipe is unchanged");

        proxy.Signal(signal);
        (await notify.ReceiveAsync()).Should().Be("STOPPING=1");
        (await proxy.WaitForExitAsync()).Should().Be(0);
    }

    [SkippableFact]
    public async Task Sends_nothing_and_fails_as_before_when_the_start_fails()
    {
        using NotifySocket notify = NotifySocket.OnPath();
        using System.Net.Sockets.Socket taken = Peers.Listen(IPAddress.Loopback);
        var host = (IPEndPoint)taken.LocalEndPoint!;
        var options = new SpawnOptions { Environment = new Dictionary<string, string?> { ["NOTIFY_SOCKET"] = notify.Variable } };
        await using SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ProxyRun.EngineArgs("tcp", host, new IPEndPoint(IPAddress.Loopback, 9)), options);

        (await proxy.ReadStatusTextAsync()).Should().StartWith("1\n");
        (await proxy.WaitForExitAsync()).Should().Be(1);
        Func<Task> ready = () => notify.ReceiveAsync(TimeSpan.FromMilliseconds(300));
        await ready.Should().ThrowAsync<OperationCanceledException>("a failed start never reports READY=1");
    }
}
