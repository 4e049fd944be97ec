using DockerProxy.Hosting;

namespace DockerProxy;

/// <summary>Composition root: the process contract lives in <see cref="ProxyProcess"/>.</summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        InheritedFds.Capture(); // before Console or anything else opens a file
        try
        {
            return await ProxyProcess.RunAsync(args, Environment.GetEnvironmentVariable, Console.Out, Console.Error);
        }
        catch (Exception e)
        {
            // The last resort, for what the process contract does not foresee (the runtime itself
            // out of fds or memory before the relay exists): one line and status 1, no stack trace.
            LastResort.Report(e);
            return ExitCodes.StartupFailure;
        }
    }
}
