using System.Net;
using System.Net.Sockets;
using DockerProxy.Tests.Process;
using DockerProxy.Tests.Support;
using Xunit.Abstractions;

namespace DockerProxy.Tests.Relay.Tcp;

public sealed class ScratchProbe
{
    private readonly ITestOutputHelper _out;

    public ScratchProbe(ITestOutputHelper output) => _out = output;

    [SkippableFact]
    public async Task Probe_memory()
    {
        const long Size = 256L * 1024 * 1024;
        using Socket backendListener = Peers.Listen(IPAddress.Loopback);
        var host = new IPEndPoint(IPAddress.Loopback, Peers.FreePort(IPAddress.Loopback));
        await using SpawnedProcess proxy = await ProxyRun.StartReadyAsync(Binaries.Ours, host, Wire.EndPointOf(backendListener));
        (Socket client, Socket backend) = await RelayHost.ConnectThroughAsync(host, backendListener);
        using (client)
        using (backend)
        {
            _out.WriteLine($"startup kib {proxy.PrivateKib()}");
            await Wire.SendAllAsync(client, "ping"u8.ToArray());
            (await Peers.ReadExactlyAsync(backend, 4)).Should().Equal("ping"u8.ToArray());
            long idleKib = proxy.PrivateKib();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            long sent = 0;
            Task<byte[]> sender = Task.Run(() => Wire.SendSeededAsync(client, 10, Size, cts.Token, n => Volatile.Write(ref sent, n)));
            for (int i = 0; i < 60; i++)
            {
                await Task.Delay(50);
                _out.WriteLine($"{i} sent {Volatile.Read(ref sent) / 1024} KiB, proxy {proxy.PrivateKib() - idleKib} KiB above idle {idleKib}");
            }
            (long count, byte[] hash) = await Wire.ReceiveHashedAsync(backend, cts.Token);
            _out.WriteLine($"count {count} after: {proxy.PrivateKib()}");
        }
    }

    [SkippableFact]
    public async Task Probe_emfile()
    {
        await using EchoServer backend = Peers.Echo(IPAddress.Loopback);
        var host = new IPEndPoint(IPAddress.Loopback, Peers.FreePort(IPAddress.Loopback));
        await using SpawnedProcess proxy = await ProxyRun.StartReadyAsync(Binaries.Ours, host, backend.EndPoint, new SpawnOptions { Environment = new Dictionary<string, string?> { ["DOCKER_PROXY_LOG_LEVEL"] = "debug" } });
        using (Socket w = await Peers.ConnectAsync(host))
        {
            await Wire.SendAllAsync(w, "ping"u8.ToArray());
            await Peers.ReadExactlyAsync(w, 4);
            w.Shutdown(SocketShutdown.Send);
            await Peers.ReadToEndAsync(w);
        }
        await Task.Delay(500);
        int idle = proxy.OpenFdCount();
        _out.WriteLine($"idle fds {idle}: {string.Join(",", Directory.GetFileSystemEntries($"/proc/{proxy.Pid}/fd").Select(Path.GetFileName))}");
        proxy.SetOpenFileLimit(idle + 6, 20000);
        var clients = new List<Socket>();
        for (int i = 0; i < 8; i++)
        {
            Socket c = await Peers.ConnectAsync(host);
            clients.Add(c);
            await Wire.SendAllAsync(c, "ping"u8.ToArray());
            string what;
            try
            {
                byte[] r = await Peers.ReadExactlyAsync(c, 4, TimeSpan.FromSeconds(2));
                what = "served";
            }
            catch (Exception e)
            {
                what = e.GetType().Name + " " + e.Message;
            }
            _out.WriteLine($"conn {i}: {what}; proxy fds {proxy.OpenFdCount()}");
        }
        foreach (Socket c in clients) c.Dispose();
        await Task.Delay(3000);
        proxy.Signal(Posix.SigTerm);
        _out.WriteLine(await proxy.StderrAsync());
    }
}
