using System.Net;
using DockerProxy.Tests.Process;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Relay.Tcp;

/// <summary>Starts our published binary as dockerd does, with a chosen -copy-mode, and waits for "0\n" on fd 3.</summary>
internal static class OursProxy
{
    internal static async Task<SpawnedProcess> StartReadyAsync(IPEndPoint host, IPEndPoint container, string copyMode)
    {
        SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, ProxyRun.EngineArgs("tcp", host, container, "-copy-mode", copyMode));
        try
        {
            (await proxy.ReadStatusTextAsync()).Should().Be("0\n", "the proxy reports ready with exactly 0\\n");
            return proxy;
        }
        catch
        {
            await proxy.DisposeAsync();
            throw;
        }
    }
}
