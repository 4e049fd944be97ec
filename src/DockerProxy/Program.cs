using DockerProxy.Hosting;

namespace DockerProxy;

/// <summary>Composition root: the process contract lives in <see cref="ProxyProcess"/>.</summary>
internal static class Program
{
    private static Task<int> Main(string[] args) =>
        ProxyProcess.RunAsync(args, Environment.GetEnvironmentVariable, Console.Out, Console.Error);
}
