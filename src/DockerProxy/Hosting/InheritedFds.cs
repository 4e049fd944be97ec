using DockerProxy.Native;

namespace DockerProxy.Hosting;

/// <summary>
/// Which of fds 3 and 4 the parent passed: read first thing in Main, before anything in the process
/// opens a file. The runtime's own files take the lowest free fds (Console.Out's copy of stdout,
/// /dev/urandom), so a proxy started by hand without fd 3 would otherwise find an fd 3 that is
/// open and not a socket, take it for dockerd's status pipe, and write "0\n" into its own stdout.
/// An fd that survived exec has FD_CLOEXEC clear; every fd the runtime opens has it set.
/// </summary>
internal static class InheritedFds
{
    private static int s_passed; // bit n: fd n came from the parent

    /// <summary>Records which of fds 3 and 4 are open without FD_CLOEXEC. Call before any file is opened.</summary>
    internal static void Capture()
    {
        int passed = 0;
        foreach (int fd in (ReadOnlySpan<int>)[3, 4])
        {
            int flags = Libc.Fcntl(fd, Libc.FGetFd, 0);
            if (flags >= 0 && (flags & Libc.FdCloExec) == 0)
            {
                passed |= 1 << fd;
            }
        }

        Volatile.Write(ref s_passed, passed);
    }

    /// <summary>Whether fd (3 or 4) was passed by the parent, as seen by <see cref="Capture"/>.</summary>
    internal static bool Passed(int fd) => (Volatile.Read(ref s_passed) & (1 << fd)) != 0;
}
