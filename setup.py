"""Package setup read from settings.ini (the nbdev 2 convention)."""
from configparser import ConfigParser
import setuptools, shlex

config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

expected = ('version description keywords author author_email lib_name user branch license status '
            'min_python audience language').split()
for o in expected: assert o in cfg, f"missing expected setting: {o}"
setup_cfg = {o: cfg[o] for o in 'version description keywords author author_email'.split()}

licenses = {'apache2': ('Apache Software License 2.0', 'OSI Approved :: Apache Software License')}
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable', '6 - Mature', '7 - Inactive']
lic = licenses[cfg['license'].lower()]
requirements = shlex.split(cfg.get('requirements', ''))
dev_requirements = shlex.split(cfg.get('dev_requirements', ''))
bench_requirements = shlex.split(cfg.get('bench_requirements', ''))
onnx_requirements = shlex.split(cfg.get('onnx_requirements', ''))
serve_requirements = shlex.split(cfg.get('serve_requirements', ''))
postgres_requirements = shlex.split(cfg.get('postgres_requirements', ''))
launch_requirements = shlex.split(cfg.get('launch_requirements', ''))
console_scripts = [s.strip() for s in cfg.get('console_scripts', '').splitlines() if s.strip()]

setuptools.setup(
    name=cfg['lib_name'],
    license=lic[0],
    classifiers=['Development Status :: ' + statuses[int(cfg['status'])],
                 'Intended Audience :: ' + cfg['audience'].title(),
                 'License :: ' + lic[1],
                 'Natural Language :: ' + cfg['language'].title(),
                 'Programming Language :: Python :: 3.11'],
    url=cfg['git_url'],
    packages=setuptools.find_packages(include=['tsic', 'tsic.*']),
    include_package_data=True,
    install_requires=requirements,
    extras_require={'dev': dev_requirements + onnx_requirements + serve_requirements, 'bench': bench_requirements, 'onnx': onnx_requirements,
                    'serve': serve_requirements,
                    'postgres': postgres_requirements, 'launch': launch_requirements},
    dependency_links=cfg.get('dep_links', '').split(),
    python_requires='>=' + cfg['min_python'],
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    zip_safe=False,
    entry_points={'console_scripts': console_scripts, 'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"]},
    **setup_cfg)
