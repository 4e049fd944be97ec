using System.Net;
using DockerProxy.Tests.Process;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Relay.Udp;

/// <summary>Starts one implementation as a UDP proxy with dockerd's argv and waits for "0\n" on fd 3.</summary>
internal static class UdpProxyRun
{
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
