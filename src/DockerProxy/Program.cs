using DockerProxy.Hosting;

namespace DockerProxy;

/// <summary>Composition root: the process contract lives in <see cref="ProxyProcess"/>.</summary>
internal static class Program
{
    private static Task<int> Main(string[] args)
    {
        InheritedFds.Capture(); // before Console or anything else opens a file
        return ProxyProcess.RunAsync(args, Environment.GetEnvironmentVariable, Console.Out, Console.Error);
    }
}
