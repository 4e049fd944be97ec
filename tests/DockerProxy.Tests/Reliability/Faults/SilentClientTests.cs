using System.Net;
using System.Net.Sockets;
using DockerProxy.Tests.Relay.Tcp;
using DockerProxy.Tests.Support;
using Xunit.Abstractions;

namespace DockerProxy.Tests.Reliability.Faults;

/// <summary>
/// Hostile clients that connect and never send a byte: the published binary keeps serving others
/// meanwhile and, once they close (some with a FIN, some with a reset), holds no more fds than at idle.
/// </summary>
[Trait("Category", "Process")]
public sealed class SilentClientTests(ITestOutputHelper output)
{
    private const int Silent = 32;
    private static readonly IPAddress Loopback = IPAddress.Loopback;

    [SkippableTheory]
    [InlineData("splice")]
    [InlineData("pipelines")]
    public async Task Clients_that_send_nothing_do_not_stop_others_being_served_and_leave_no_fd_once_closed(string copyMode)
    {
        Binaries.Path(Binaries.Ours);
        await using ScriptedBackend backend = ScriptedBackend.Start();
        var host = new IPEndPoint(Loopback, Peers.FreePort(Loopback));
        await using SpawnedProcess proxy = await OursProxy.StartReadyAsync(host, backend.EndPoint, copyMode);
        await Serving.WarmUpAsync(host);
        FdSnapshot idle = await ProxyFds.SettledAsync(proxy);
        int dialled = backend.Accepted;

        var silent = new List<Socket>();
        try
        {
            for (int i = 0; i < Silent; i++)
            {
                silent.Add(await Peers.ConnectAsync(host));
            }

            (await Poll.UntilAsync(() => backend.Accepted == dialled + Silent, Peers.Patience)).Should().BeTrue(
                "the proxy accepts and dials for a client before it sends anything");

            output.WriteLine($"fds with {Silent} silent clients: {proxy.OpenFdCount()}");
            await Serving.EchoSeveralAsync(host, 1, 10);
            proxy.HasExited.Should().BeFalse();
            silent.Should().OnlyContain(s => s.Available == 0, "nothing was sent, nothing comes back");

            for (int i = 0; i < silent.Count; i++)
            {
                if (i % 2 == 0)
                {
                    silent[i].Dispose(); // FIN
                }
                else
                {
                    Wire.Reset(silent[i]);
                }
            }

            FdSnapshot after = await ProxyFds.BackToAsync(proxy, idle, Peers.Patience);

            output.WriteLine($"fds at idle: {idle.Count} ({idle.Summary()}); after: {after.Count} ({after.Summary()})");
            after.Count.Should().BeLessThanOrEqualTo(idle.Count,
                "every silent client's two sockets are closed (idle: {0}; now: {1})", idle.Summary(), after.Summary());
            await Serving.EchoOnceAsync(host, 50);
            proxy.HasExited.Should().BeFalse();
        }
        finally
        {
            silent.ForEach(s => s.Dispose());
        }
    }
}
