using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace DockerProxy.Tests.Relay.Udp;

/// <summary>
/// A private network namespace the test creates (ip netns add, a unique name) and deletes when
/// disposed. Sockets are created inside it from a dedicated thread that entered it (setns); a
/// socket keeps the namespace it was created in, whichever thread uses it afterwards.
/// </summary>
internal sealed partial class NetNamespace : IDisposable
{
    private const int CloneNewNet = 0x40000000;

    private NetNamespace(string ip, string name)
    {
        IpTool = ip;
        Name = name;
    }

    /// <summary>The iproute2 binary used.</summary>
    internal string IpTool { get; }

    internal string Name { get; }

    /// <summary>iproute2's ip, or null when not installed.</summary>
    internal static string? FindIpTool() =>
        new[] { "/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip" }.FirstOrDefault(File.Exists);

    internal static NetNamespace Create(string ip)
    {
        string name = "dpx-udp-" + Guid.NewGuid().ToString("N")[..12];
        Run(ip, "netns", "add", name);
        return new NetNamespace(ip, name);
    }

    /// <summary>Runs ip -n NAME args; throws with ip's stderr when it fails.</summary>
    internal void Ip(params string[] args) => Run(IpTool, ["-n", Name, .. args]);

    /// <summary>Whether ip -n NAME args succeeds.</summary>
    internal bool TryIp(params string[] args)
    {
        try
        {
            Ip(args);
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Runs create on a thread inside the namespace and returns its socket.</summary>
    internal Socket CreateSocket(Func<Socket> create)
    {
        Socket? socket = null;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                using SafeFileHandle ns = File.OpenHandle(Path.Combine("/var/run/netns", Name));
                if (SetNs((int)ns.DangerousGetHandle(), CloneNewNet) != 0)
                {
                    throw new InvalidOperationException($"setns {Name} failed: errno {Marshal.GetLastPInvokeError()}");
                }

                socket = create();
            }
            catch (Exception e)
            {
                error = e;
            }
        })
        {
            IsBackground = true,
            Name = "netns " + Name,
        };
        thread.Start();
        if (!thread.Join(TimeSpan.FromSeconds(10)))
        {
            throw new TimeoutException($"creating a socket in {Name} did not finish");
        }

        if (error is not null)
        {
            throw new InvalidOperationException($"creating a socket in {Name} failed", error);
        }

        return socket!;
    }

    public void Dispose()
    {
        try
        {
            Run(IpTool, "netns", "del", Name);
        }
        catch (InvalidOperationException)
        {
            // Nothing more to do; a leftover namespace has a unique name.
        }
    }

    private static void Run(string ip, params string[] args)
    {
        var start = new System.Diagnostics.ProcessStartInfo(ip)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = System.Diagnostics.Process.Start(start) ?? throw new InvalidOperationException($"{ip} did not start");
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(10)))
        {
            process.Kill();
            throw new InvalidOperationException($"{ip} {string.Join(' ', args)}: still running after 10 s");
        }

        if (process.ExitCode != 0)
        {
            string error = stderr.Wait(TimeSpan.FromSeconds(2)) ? stderr.Result.Trim() : string.Empty;
            throw new InvalidOperationException($"{ip} {string.Join(' ', args)}: exit {process.ExitCode}: {error}");
        }

        _ = stdout.Wait(TimeSpan.FromSeconds(2));
    }

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNs(int fd, int nstype);
}
