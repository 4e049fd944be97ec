using DockerProxy.Native;

namespace DockerProxy.Hosting;

/// <summary>
/// Reports an exception that escaped the process contract, without relying on anything that may be
/// what failed (Console, the logger, a new file): "1\n&lt;reason&gt;" on fd 3 when a status is still
/// owed there, and one line on fd 2, both with write(2). This is where a start-up failure that is
/// not a <see cref="StartupException"/> ends (out of fds or memory for the runtime, the relay's event
/// loop or the metrics endpoint): status 1, as for any other.
/// </summary>
internal static class LastResort
{
    internal static void Report(Exception error)
    {
        // A type initializer that failed says only that (and, under NativeAOT, as a resource key):
        // the cause is the innermost exception.
        while (error is TypeInitializationException or AggregateException && error.InnerException is not null)
        {
            error = error.InnerException;
        }

        bool starting = true;
        string reason = $"failed to start: {error.Message}";
        try
        {
            StatusPipe status = StatusPipe.Current ?? StatusPipe.Open(SocketActivation.Detect(Environment.GetEnvironmentVariable));
            starting = !status.HasReported;
            status.ReportFailure(reason); // nothing when a status was already written
        }
        catch
        {
            // fd 3 could not be reported to either: stderr still says it.
        }

        WriteLine(2, starting ? $"docker-proxy: {reason} ({error.GetType().Name})" : $"docker-proxy: stopped by an unexpected error: {error.Message} ({error.GetType().Name})");
    }

    private static unsafe void WriteLine(int fd, string text)
    {
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(text + "\n");
        fixed (byte* data = bytes)
        {
            _ = Libc.Write(fd, data, bytes.Length);
        }
    }
}
