using System.Globalization;
using System.Runtime.InteropServices;
using DockerProxy.Native;

namespace DockerProxy.Hosting;

/// <summary>
/// -user: engines run the proxy as root, but relaying needs no privilege once the port is bound.
/// After the listener is ready and before the status is reported, the process becomes the user and
/// its primary group, with no supplementary groups, an empty capability bounding set, no ambient
/// capabilities and no-new-privileges. Any step failing is a start-up failure: never a silent
/// fallback to root. glibc applies setgroups/setgid/setuid to every thread of the process.
/// </summary>
internal static unsafe partial class PrivilegeDrop
{
    private const int PrSetNoNewPrivs = 38;
    private const int PrCapBsetDrop = 24;
    private const int PrCapAmbient = 47;
    private const int PrCapAmbientClearAll = 4;
    private const int LastCapability = 63;

    internal static void To(string user)
    {
        (uint uid, uint gid) = Lookup(user);

        Check(Prctl(PrSetNoNewPrivs, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)");
        for (int capability = 0; capability <= LastCapability; capability++)
        {
            // EINVAL past the kernel's last capability; EPERM when not privileged, in which case
            // the set cannot hold anything we could use anyway.
            _ = Prctl(PrCapBsetDrop, (ulong)capability, 0, 0, 0);
        }

        _ = Prctl(PrCapAmbient, PrCapAmbientClearAll, 0, 0, 0);
        Check(SetGroups(0, null), "setgroups");
        Check(SetGid(gid), "setgid");
        Check(SetUid(uid), "setuid");

        // Prove it took: the ids are the user's, and root cannot be had back.
        if (GetUid() != uid || GetEUid() != uid || GetGid() != gid || GetEGid() != gid || (uid != 0 && SetUid(0) == 0))
        {
            throw new StartupException($"-user {user}: the switch to uid {uid}, gid {gid} did not take");
        }
    }

    private static (uint Uid, uint Gid) Lookup(string user)
    {
        byte* entry = stackalloc byte[64]; // struct passwd
        byte* buffer = stackalloc byte[4096];
        nint found = 0;
        int rc = GetPwNamR(user, entry, buffer, 4096, &found);
        if (rc == 0 && found != 0)
        {
            return (*(uint*)(entry + 16), *(uint*)(entry + 20)); // pw_uid, pw_gid
        }

        if (uint.TryParse(user, NumberStyles.None, CultureInfo.InvariantCulture, out uint numeric))
        {
            return (numeric, numeric); // a bare uid not in the user database: its own group
        }

        throw new StartupException(rc == 0 ? $"-user {user}: no such user" : $"-user {user}: {Errno.Text(rc)}");
    }

    private static void Check(int rc, string what)
    {
        if (rc != 0)
        {
            throw new StartupException($"-user: {what}: {Errno.Text(Marshal.GetLastPInvokeError())}");
        }
    }

    [LibraryImport("libc", EntryPoint = "getpwnam_r", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int GetPwNamR(string name, byte* entry, byte* buffer, nuint size, nint* result);

    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    private static partial int Prctl(int option, ulong arg2, ulong arg3, ulong arg4, ulong arg5);

    [LibraryImport("libc", EntryPoint = "setgroups", SetLastError = true)]
    private static partial int SetGroups(nuint size, uint* groups);

    [LibraryImport("libc", EntryPoint = "setgid", SetLastError = true)]
    private static partial int SetGid(uint gid);

    [LibraryImport("libc", EntryPoint = "setuid", SetLastError = true)]
    private static partial int SetUid(uint uid);

    [LibraryImport("libc", EntryPoint = "getuid")]
    private static partial uint GetUid();

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEUid();

    [LibraryImport("libc", EntryPoint = "getgid")]
    private static partial uint GetGid();

    [LibraryImport("libc", EntryPoint = "getegid")]
    private static partial uint GetEGid();
}
