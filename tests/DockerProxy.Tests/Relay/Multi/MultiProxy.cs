using DockerProxy.Tests.Process;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Relay.Multi;

/// <summary>Starts our binary with many mappings and waits for its status on fd 3.</summary>
internal static class MultiProxy
{
    internal static async Task<SpawnedProcess> StartReadyAsync(IEnumerable<string> args, SpawnOptions? options = null)
    {
        SpawnedProcess proxy = ProxyRun.Start(Binaries.Ours, args, options);
        try
        {
            string status = await proxy.ReadStatusTextAsync(TimeSpan.FromSeconds(30));
            if (status != "0\n")
            {
                string stderr = proxy.HasExited ? await proxy.StderrAsync() : string.Empty;
                status.Should().Be("0\n", "the proxy binds every mapping and reports ready (stderr: {0})", stderr);
            }

            return proxy;
        }
        catch
        {
            await proxy.DisposeAsync();
            throw;
        }
    }
}
