using System.Runtime.InteropServices;

namespace DockerProxy.Tests.Support;

/// <summary>libc calls the tests need to start a proxy exactly as dockerd does (posix_spawn with
/// fd 3 and fd 4 arranged, signals at their defaults) and to watch it (waitpid, kill, prlimit).</summary>
internal static unsafe partial class Posix
{
    internal const int OCloExec = 0x80000;
    internal const int ORdOnly = 0;
    internal const int OWrOnly = 1;
    internal const int WNoHang = 1;
    internal const short PosixSpawnSetSigDef = 0x04;
    internal const short PosixSpawnSetSigMask = 0x08;
    internal const int RLimitNoFile = 7;

    internal const int SigHup = 1;
    internal const int SigInt = 2;
    internal const int SigKill = 9;
    internal const int SigUsr1 = 10;
    internal const int SigUsr2 = 12;
    internal const int SigPipe = 13;
    internal const int SigTerm = 15;

    [LibraryImport("libc", EntryPoint = "pipe2", SetLastError = true)]
    internal static partial int Pipe2(int* fds, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    internal static partial nint Read(int fd, byte* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    internal static partial int Fcntl(int fd, int cmd, int arg);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_init")]
    internal static partial int FileActionsInit(void* actions);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_destroy")]
    internal static partial int FileActionsDestroy(void* actions);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_adddup2")]
    internal static partial int FileActionsAddDup2(void* actions, int fd, int newFd);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_addopen", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int FileActionsAddOpen(void* actions, int fd, string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_init")]
    internal static partial int SpawnAttrInit(void* attr);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_destroy")]
    internal static partial int SpawnAttrDestroy(void* attr);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_setflags")]
    internal static partial int SpawnAttrSetFlags(void* attr, short flags);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_setsigdefault")]
    internal static partial int SpawnAttrSetSigDefault(void* attr, void* sigset);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_setsigmask")]
    internal static partial int SpawnAttrSetSigMask(void* attr, void* sigset);

    [LibraryImport("libc", EntryPoint = "sigfillset")]
    internal static partial int SigFillSet(void* set);

    [LibraryImport("libc", EntryPoint = "sigemptyset")]
    internal static partial int SigEmptySet(void* set);

    [LibraryImport("libc", EntryPoint = "posix_spawn", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Spawn(out int pid, string path, void* actions, void* attr, nint* argv, nint* envp);

    [LibraryImport("libc", EntryPoint = "waitpid", SetLastError = true)]
    internal static partial int WaitPid(int pid, int* status, int options);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    internal static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "prlimit", SetLastError = true)]
    internal static partial int PrLimit(int pid, int resource, long* newLimit, long* oldLimit);

    internal static (int Read, int Write) Pipe()
    {
        int* fds = stackalloc int[2];
        if (Pipe2(fds, OCloExec) != 0)
        {
            throw new InvalidOperationException($"pipe2 failed: errno {Marshal.GetLastPInvokeError()}");
        }

        return (fds[0], fds[1]);
    }
}
