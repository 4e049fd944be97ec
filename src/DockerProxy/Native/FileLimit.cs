using System.Runtime.InteropServices;

namespace DockerProxy.Native;

/// <summary>
/// RLIMIT_NOFILE: a process with thousands of listeners needs more descriptors than the usual
/// soft limit of 1024. The soft limit may be raised up to the hard limit without privileges
/// (getrlimit(2)), which is what Go programs do at start since Go 1.19; the classic single-mapping
/// process does not touch it, as the original never needed to.
/// </summary>
internal static partial class FileLimit
{
    private const int RLimitNoFile = 7;

    /// <summary>Raises the soft limit to the hard one; returns (before, after), or null when the limits cannot be read.</summary>
    internal static unsafe (ulong Before, ulong After)? RaiseSoftToHard()
    {
        ulong* limits = stackalloc ulong[2]; // struct rlimit { rlim_t rlim_cur; rlim_t rlim_max; }
        if (GetRLimit(RLimitNoFile, limits) != 0)
        {
            return null;
        }

        ulong before = limits[0];
        if (limits[0] < limits[1])
        {
            limits[0] = limits[1];
            if (SetRLimit(RLimitNoFile, limits) != 0)
            {
                return (before, before);
            }
        }

        return (before, limits[0]);
    }

    /// <summary>The soft limit now, or null when it cannot be read.</summary>
    internal static unsafe ulong? Soft()
    {
        ulong* limits = stackalloc ulong[2];
        return GetRLimit(RLimitNoFile, limits) == 0 ? limits[0] : null;
    }

    [LibraryImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    private static unsafe partial int GetRLimit(int resource, ulong* limits);

    [LibraryImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    private static unsafe partial int SetRLimit(int resource, ulong* limits);
}
