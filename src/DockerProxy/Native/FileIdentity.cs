using System.Runtime.InteropServices;

namespace DockerProxy.Native;

/// <summary>
/// An open file's device and inode (fstat(2)), as systemd writes them into JOURNAL_STREAM to say
/// "this fd is the journal". st_dev and st_ino are the first two 64-bit fields of struct stat on
/// Linux x86-64 and arm64 alike.
/// </summary>
internal static unsafe partial class FileIdentity
{
    // Larger than struct stat on either architecture (144 and 128 bytes).
    private const int StatBufferBytes = 256;

    /// <summary>"dev:ino" in decimal, or null when the fd is not open.</summary>
    internal static string? Of(int fd)
    {
        ulong* stat = stackalloc ulong[StatBufferBytes / sizeof(ulong)];
        if (FStat(fd, stat) != 0)
        {
            return null;
        }

        return string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{stat[0]}:{stat[1]}");
    }

    [LibraryImport("libc", EntryPoint = "fstat", SetLastError = true)]
    private static partial int FStat(int fd, ulong* stat);
}
