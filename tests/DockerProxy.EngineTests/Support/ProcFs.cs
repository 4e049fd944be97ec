using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace DockerProxy.EngineTests.Support;

/// <summary>What /proc tells about processes and sockets: children, argv, executable, state,
/// which socket listens on an address, and who holds it.</summary>
internal static class ProcFs
{
    /// <summary>A process as seen once: pid, parent, state letter (R, S, Z, ...).</summary>
    internal readonly record struct Stat(int Pid, int PPid, char State);

    internal static Stat? ReadStat(int pid)
    {
        try
        {
            string text = File.ReadAllText($"/proc/{pid}/stat");
            int close = text.LastIndexOf(')');
            string[] rest = text[(close + 2)..].Split(' ');
            return new Stat(pid, int.Parse(rest[1], CultureInfo.InvariantCulture), rest[0][0]);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>Every process now (pid order).</summary>
    internal static List<Stat> All()
    {
        var result = new List<Stat>();
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out int pid) && ReadStat(pid) is { } stat)
            {
                result.Add(stat);
            }
        }

        result.Sort((a, b) => a.Pid.CompareTo(b.Pid));
        return result;
    }

    /// <summary>Running (not zombie) children of a process.</summary>
    internal static List<int> Children(int parent) =>
        All().Where(s => s.PPid == parent && s.State is not ('Z' or 'X')).Select(s => s.Pid).ToList();

    /// <summary>Running (not zombie) descendants of a process.</summary>
    internal static List<int> Descendants(int root)
    {
        List<Stat> all = All();
        var result = new List<int>();
        var queue = new Queue<int>([root]);
        while (queue.Count > 0)
        {
            int parent = queue.Dequeue();
            foreach (Stat child in all.Where(s => s.PPid == parent))
            {
                queue.Enqueue(child.Pid);
                if (child.State is not ('Z' or 'X'))
                {
                    result.Add(child.Pid);
                }
            }
        }

        return result;
    }

    /// <summary>Alive and not a zombie (a zombie has exited; only its parent has not reaped it yet).</summary>
    internal static bool IsAlive(int pid) => ReadStat(pid) is { State: not ('Z' or 'X') };

    internal static string[]? Cmdline(int pid)
    {
        try
        {
            string text = File.ReadAllText($"/proc/{pid}/cmdline");
            return text.Length == 0 ? null : text.TrimEnd('\0').Split('\0');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    internal static string? Exe(int pid)
    {
        try
        {
            return new FileInfo($"/proc/{pid}/exe").LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Thread ids of a process (/proc/PID/task).</summary>
    internal static HashSet<int> Threads(int pid)
    {
        try
        {
            return Directory.EnumerateDirectories($"/proc/{pid}/task")
                .Select(d => int.Parse(Path.GetFileName(d), CultureInfo.InvariantCulture)).ToHashSet();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>Socket inodes a process holds, by fd.</summary>
    internal static Dictionary<int, long> Sockets(int pid)
    {
        var result = new Dictionary<int, long>();
        try
        {
            foreach (string fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
            {
                string? target;
                try
                {
                    target = new FileInfo(fd).LinkTarget;
                }
                catch (IOException)
                {
                    continue;
                }

                if (target is not null && target.StartsWith("socket:[", StringComparison.Ordinal))
                {
                    result[int.Parse(Path.GetFileName(fd), CultureInfo.InvariantCulture)] =
                        long.Parse(target.AsSpan(8, target.Length - 9), CultureInfo.InvariantCulture);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }

        return result;
    }

    /// <summary>
    /// The inode of the socket bound to address:port (TCP: listening; UDP: unconnected), from
    /// /proc/net/{tcp,tcp6,udp,udp6}; null when there is none.
    /// </summary>
    internal static long? BoundSocket(string proto, IPAddress address, int port)
    {
        bool v6 = address.AddressFamily == AddressFamily.InterNetworkV6;
        string table = $"/proc/net/{proto}{(v6 ? "6" : "")}";
        string wantedState = proto == "tcp" ? "0A" : "07";
        foreach (string line in File.ReadLines(table).Skip(1))
        {
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 10 || f[3] != wantedState)
            {
                continue;
            }

            (IPAddress ip, int p) = ParseHexEndPoint(f[1]);
            if (p == port && ip.Equals(address))
            {
                return long.Parse(f[9], CultureInfo.InvariantCulture);
            }
        }

        return null;
    }

    private static (IPAddress, int) ParseHexEndPoint(string text)
    {
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        string hex = text[..colon];
        int port = int.Parse(text[(colon + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        byte[] raw = Convert.FromHexString(hex);
        // The kernel prints each 32-bit word in host (little-endian) order.
        for (int i = 0; i < raw.Length; i += 4)
        {
            Array.Reverse(raw, i, 4);
        }

        return (new IPAddress(raw), port);
    }
}
