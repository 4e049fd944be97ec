using System.Globalization;

namespace DockerProxy.Hosting;

/// <summary>
/// systemd socket activation (sd_listen_fds(3)): when LISTEN_PID names this process and LISTEN_FDS
/// is at least 1, the listener was passed as fd 3 (SD_LISTEN_FDS_START). Then fd 3 is that listener
/// and there is no status pipe; otherwise fd 3 keeps its dockerd meaning (a status pipe when it is
/// open and not a socket). dockerd never sets these variables, so what it sees does not change.
/// As sd_listen_fds does, the variables are removed once read, so that nothing this process might
/// start takes the sockets for its own.
/// </summary>
internal static class SocketActivation
{
    /// <summary>SD_LISTEN_FDS_START: the first passed socket.</summary>
    internal const int Fd = 3;

    private const string ListenPid = "LISTEN_PID";
    private const string ListenFds = "LISTEN_FDS";
    private const string ListenFdNames = "LISTEN_FDNAMES";

    /// <summary>Whether a socket was passed to this process; reads and then removes the variables.</summary>
    internal static bool Detect(Func<string, string?> environment)
    {
        string? pid = environment(ListenPid);
        string? fds = environment(ListenFds);
        if (pid is null && fds is null)
        {
            return false;
        }

        Environment.SetEnvironmentVariable(ListenPid, null);
        Environment.SetEnvironmentVariable(ListenFds, null);
        Environment.SetEnvironmentVariable(ListenFdNames, null);

        if (!int.TryParse(pid, NumberStyles.None, CultureInfo.InvariantCulture, out int owner)
            || owner != Environment.ProcessId
            || !int.TryParse(fds, NumberStyles.None, CultureInfo.InvariantCulture, out int count)
            || count < 1)
        {
            return false;
        }

        // Only the first socket is used; any further ones stay open but never leak into a child.
        for (int extra = Fd + 1; extra < Fd + Math.Min(count, MaxSockets); extra++)
        {
            Native.Libc.SetCloseOnExec(extra);
        }

        return true;
    }

    // A bound on the loop above: far more than any unit passes.
    private const int MaxSockets = 1024;
}
