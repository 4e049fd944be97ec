namespace DockerProxy.Hosting;

/// <summary>The original's exit statuses, which dockerd and scripts rely on.</summary>
internal static class ExitCodes
{
    /// <summary>Stopped by SIGINT or SIGTERM, -h, -v: newest dockerd treats anything else on unmap as a failure.</summary>
    internal const int Success = 0;

    /// <summary>A start-up failure, reported as "1\n&lt;text&gt;" on fd 3.</summary>
    internal const int StartupFailure = 1;

    /// <summary>A flag error (Go's flag.ExitOnError): message and usage on stderr, nothing on fd 3.</summary>
    internal const int FlagError = 2;
}
