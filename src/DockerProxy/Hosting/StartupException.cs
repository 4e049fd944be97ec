namespace DockerProxy.Hosting;

/// <summary>
/// A start-up failure after the flags were read: reported as <c>1\n{Message}</c> on fd 3 (dockerd shows
/// it as "Error starting userland proxy: {Message}"), logged, and the process exits 1.
/// </summary>
internal sealed class StartupException : Exception
{
    public StartupException(string message)
        : base(message)
    {
    }

    public StartupException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public StartupException()
    {
    }
}
