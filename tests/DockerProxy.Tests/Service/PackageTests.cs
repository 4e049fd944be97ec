using System.Diagnostics;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Service;

/// <summary>
/// build/package-deb.sh: the .deb builds, unpacks (dpkg -x) to the tree docs/install.md describes,
/// its binary runs, and its units pass systemd-analyze verify. dpkg-deb and systemd-analyze are
/// installed by .ci/run: missing, the test skips here and fails under CI=true.
/// </summary>
[Trait("Category", "Process")]
public sealed class PackageTests
{
    private static readonly string[] Tree =
    [
        "usr/libexec/docker/docker-proxy",
        "usr/share/man/man1/docker-proxy.1.gz",
        "usr/lib/systemd/system/docker-proxy@.service",
        "usr/lib/systemd/system/docker-proxy@.socket",
        "usr/share/doc/docker-proxy-relay/README.md",
        "usr/share/doc/docker-proxy-relay/install.md",
        "usr/share/doc/docker-proxy-relay/service.md",
        "usr/share/doc/docker-proxy-relay/example.env",
        "usr/share/doc/docker-proxy-relay/copyright",
        "etc/docker-proxy",
    ];

    [SkippableFact]
    public async Task The_deb_unpacks_to_the_documented_tree_with_a_working_binary_and_valid_units()
    {
        string binary = Binaries.Path(Binaries.Ours);
        Require("dpkg-deb");
        string scratch = Directory.CreateTempSubdirectory("dp-deb-").FullName;
        try
        {
            (int built, string output) = await RunAsync(Path.Combine(Binaries.RepositoryRoot, "build", "package-deb.sh"), [Path.Combine(scratch, "out")], ("DOCKER_PROXY_BIN", binary));
            built.Should().Be(0, output);
            string deb = output.Trim().Split('\n')[^1];
            File.Exists(deb).Should().BeTrue(output);

            string root = Path.Combine(scratch, "root");
            (await RunAsync("dpkg-deb", ["-x", deb, root])).Code.Should().Be(0);
            foreach (string entry in Tree)
            {
                Path.Exists(Path.Combine(root, entry)).Should().BeTrue($"{entry} is in the package");
            }

            string installed = Path.Combine(root, "usr/libexec/docker/docker-proxy");
            File.ReadAllBytes(installed).Should().Equal(File.ReadAllBytes(binary), "the package carries the published binary");
            (int version, string text) = await RunAsync(installed, ["-version"]);
            version.Should().Be(0);
            text.Should().StartWith("docker-proxy (commit ");

            (int fields, string control) = await RunAsync("dpkg-deb", ["-f", deb, "Package", "Architecture"]);
            fields.Should().Be(0);
            control.Should().Contain("Package: docker-proxy-relay");

            await VerifyUnitsAsync(root, installed, scratch);
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }
    }

    // systemd-analyze verify on an instance of each unit, with ExecStart pointed at the unpacked
    // binary (verify checks that it is executable). Any output is a complaint.
    private static async Task VerifyUnitsAsync(string root, string installed, string scratch)
    {
        Require("systemd-analyze");
        string units = Path.Combine(scratch, "units");
        Directory.CreateDirectory(units);
        string service = File.ReadAllText(Path.Combine(root, "usr/lib/systemd/system/docker-proxy@.service"))
            .Replace("/usr/libexec/docker/docker-proxy", installed, StringComparison.Ordinal);
        // A socket instance is its address; its service of the same name is verified with it.
        File.WriteAllText(Path.Combine(units, "docker-proxy@web.service"), service);
        File.WriteAllText(Path.Combine(units, "docker-proxy@8080.service"), service);
        File.Copy(Path.Combine(root, "usr/lib/systemd/system/docker-proxy@.socket"), Path.Combine(units, "docker-proxy@8080.socket"));

        foreach (string unit in new[] { "docker-proxy@web.service", "docker-proxy@8080.socket" })
        {
            (int code, string complaints) = await RunAsync("systemd-analyze", ["--man=no", "verify", Path.Combine(units, unit)]);
            code.Should().Be(0, complaints);
            complaints.Trim().Should().BeEmpty($"{unit} verifies cleanly");
        }
    }

    private static void Require(string tool)
    {
        bool found = (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':').Any(dir => File.Exists(Path.Combine(dir, tool)));
        if (found)
        {
            return;
        }

        string reason = $"{tool} not found: .ci/run installs it";
        if (Environment.GetEnvironmentVariable("CI") == "true")
        {
            throw new FileNotFoundException(reason, tool);
        }

        Skip.If(true, reason);
    }

    private static async Task<(int Code, string Output)> RunAsync(string file, string[] args, params (string Name, string Value)[] environment)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach ((string name, string value) in environment)
        {
            start.Environment[name] = value;
        }

        using var process = System.Diagnostics.Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true); // only the process this test started
            throw;
        }

        return (process.ExitCode, await stdout + await stderr);
    }
}
