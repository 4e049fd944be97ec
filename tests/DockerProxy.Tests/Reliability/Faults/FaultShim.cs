using System.Diagnostics;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Reliability.Faults;

/// <summary>
/// accept_faults.c compiled at run time into a temporary folder (deleted on dispose), for
/// LD_PRELOAD into the proxy: the first accepts that would succeed fail with ENFILE, ENOBUFS or
/// ENOMEM instead, and the shim records each event in a file of that folder. Skips the test when
/// gcc is missing (fails it under CI=true).
/// </summary>
internal sealed class FaultShim : IDisposable
{
    internal const string Loaded = "loaded";
    internal const string Accepted = "accepted";

    private static readonly TimeSpan CompilePatience = TimeSpan.FromSeconds(60);

    private readonly DirectoryInfo _folder;

    private FaultShim(DirectoryInfo folder)
    {
        _folder = folder;
        LibraryPath = Path.Combine(folder.FullName, "libfaults.so");
        EventsPath = Path.Combine(folder.FullName, "events.log");
    }

    /// <summary>The shared object to preload.</summary>
    internal string LibraryPath { get; }

    /// <summary>Where the shim appends one line per event (FAULT_ACCEPT_LOG).</summary>
    internal string EventsPath { get; }

    internal static string SourcePath { get; } =
        Path.Combine(Binaries.RepositoryRoot, "tests", "DockerProxy.Tests", "Reliability", "Faults", "accept_faults.c");

    /// <summary>Compiles the shim; skips (or fails under CI=true) when no C compiler is available.</summary>
    internal static async Task<FaultShim> BuildAsync()
    {
        string? gcc = FindOnPath("gcc");
        if (gcc is null)
        {
            const string Reason = "gcc not found on PATH: the accept fault shim is compiled at run time";
            if (Environment.GetEnvironmentVariable("CI") == "true")
            {
                throw new InvalidOperationException(Reason);
            }

            Skip.If(true, Reason);
        }

        File.Exists(SourcePath).Should().BeTrue("the shim's source is kept next to its tests");
        DirectoryInfo folder = Directory.CreateTempSubdirectory("docker-proxy-faults-");
        var shim = new FaultShim(folder);
        try
        {
            var start = new ProcessStartInfo(gcc!)
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            foreach (string arg in new[] { "-shared", "-fPIC", "-O2", "-o", shim.LibraryPath, SourcePath, "-ldl" })
            {
                start.ArgumentList.Add(arg);
            }

            using System.Diagnostics.Process compiler = System.Diagnostics.Process.Start(start)!;
            Task<string> stderr = compiler.StandardError.ReadToEndAsync();
            Task<string> stdout = compiler.StandardOutput.ReadToEndAsync();
            try
            {
                await compiler.WaitForExitAsync().WaitAsync(CompilePatience);
            }
            catch (TimeoutException)
            {
                compiler.Kill(entireProcessTree: true);
                throw;
            }

            string errors = await stderr.WaitAsync(CompilePatience);
            _ = await stdout.WaitAsync(CompilePatience);
            compiler.ExitCode.Should().Be(0, "the shim compiles: {0}", errors);
            File.Exists(shim.LibraryPath).Should().BeTrue();
            return shim;
        }
        catch
        {
            shim.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The variables that preload the shim and give it its failure budgets, e.g. ("ENFILE", 6),
    /// injected once acceptsBeforeFaults connections were really accepted.
    /// </summary>
    internal Dictionary<string, string?> Variables(int acceptsBeforeFaults, params (string Errno, int Count)[] failures)
    {
        var variables = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["LD_PRELOAD"] = LibraryPath,
            ["FAULT_ACCEPT_LOG"] = EventsPath,
            ["FAULT_ACCEPT_AFTER"] = acceptsBeforeFaults.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        foreach ((string errno, int count) in failures)
        {
            variables["FAULT_ACCEPT_" + errno] = count.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return variables;
    }

    /// <summary>The events so far, in order: "loaded", an errno name per injected failure, "accepted".</summary>
    internal IReadOnlyList<string> Events() =>
        File.Exists(EventsPath) ? [.. File.ReadAllLines(EventsPath).Where(line => line.Length > 0)] : [];

    public void Dispose()
    {
        try
        {
            _folder.Delete(recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: a temporary folder.
        }
    }

    private static string? FindOnPath(string name)
    {
        string path = System.Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        foreach (string folder in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(folder, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
