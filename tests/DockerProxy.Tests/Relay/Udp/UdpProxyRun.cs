using System.Net;
using DockerProxy.Tests.Process;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Relay.Udp;

/// <summary>Starts one implementation as a UDP proxy with dockerd's argv and waits for "0\n" on fd 3.</summary>
internal static class UdpProxyRun
{
    private const int Attempts = 5;

    /// <summary>
    /// Starts a proxy on a free UDP port of address. The port is found by binding port 0 and
    /// releasing it, so on a busy machine another socket can take it before the proxy binds: that
    /// one failure ("address already in use") is retried on a new port, a few times.
    /// </summary>
    internal static async Task<(SpawnedProcess Proxy, IPEndPoint Host)> StartOnFreePortAsync(
        string which, IPAddress address, IPEndPoint container, SpawnOptions? options = null, params string[] extra)
    {
        for (int attempt = 1; ; attempt++)
        {
            var host = new IPEndPoint(address, Datagrams.FreePort(address));
            SpawnedProcess proxy = ProxyRun.Start(which, ProxyRun.EngineArgs("udp", host, container, extra), options);
            string status;
            try
            {
                status = await proxy.ReadStatusTextAsync();
            }
            catch
            {
                await proxy.DisposeAsync();
                throw;
            }

            if (status == "0\n")
            {
                return (proxy, host);
            }

            await proxy.DisposeAsync();
            if (attempt == Attempts || !status.EndsWith("address already in use", StringComparison.Ordinal))
            {
                status.Should().Be("0\n", "the {0} proxy reports ready on {1} (attempt {2})", which, host, attempt);
            }
        }
    }

    /// <summary>Starts a proxy whose listener is given (-use-listen-fd) or whose port is known free.</summary>
    internal static async Task<SpawnedProcess> StartReadyAsync(string which, IPEndPoint host, IPEndPoint container, SpawnOptions? options = null, params string[] extra)
    {
        SpawnedProcess proxy = ProxyRun.Start(which, ProxyRun.EngineArgs("udp", host, container, extra), options);
        try
        {
            (await proxy.ReadStatusTextAsync()).Should().Be("0\n", "the {0} proxy reports ready", which);
            return proxy;
        }
        catch
        {
            await proxy.DisposeAsync();
            throw;
        }
    }
}
